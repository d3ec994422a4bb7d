"""01 — Same bytes, three interpreters: bare python3, terminal IPython, the kernel.

    uv run python demos/01_repl_diff.py

Bare python3 runs the snippet as a script: no echo, no `_`, NameError on line 2.
Terminal IPython echoes Out[1]: 4 and Out[2]: 40 and prints a rich traceback.
The kernel is IPython behind sockets: one execute_request per line, each answered
with an execute_result (and its execution_count) or an error (ename, evalue).
"""

import subprocess
import sys

from jupyter_client.manager import start_new_kernel

SNIPPET = "2 + 2\n_ * 10\nimport math\nmath.sqrt(-1)\n"


def feed(argv):
    done = subprocess.run(argv, input=SNIPPET, capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


print("=== bare python3, the snippet as a script on stdin ===")
print(feed([sys.executable, "-"]))

print("=== terminal IPython, the snippet on stdin ===")
print(feed([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor",
            "--TerminalInteractiveShell.confirm_exit=False", "--HistoryManager.hist_file=:memory:"]))

print("=== the python3 kernel, one execute_request per line ===")


def show(msg):
    kind, content = msg["msg_type"], msg["content"]
    if kind == "execute_result":
        print(f"  execute_result [{content['execution_count']}]: {content['data']['text/plain']}")
    elif kind == "error":
        print(f"  error: ename={content['ename']!r} evalue={content['evalue']!r}")


# stderr=DEVNULL: keep the kernel's start-up warnings off the slide
km, kc = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
try:
    for line in SNIPPET.splitlines():
        print(f"> {line}")
        reply = kc.execute_interactive(line, output_hook=show, timeout=30)
        print(f"  execute_reply: status={reply['content']['status']}, "
              f"execution_count={reply['content']['execution_count']}")
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
