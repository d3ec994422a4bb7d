"""01 — Same bytes, four interpreters: what each layer adds.

    uv run python demos/01_repl_diff.py

python3 as a script (`python3 -`): no echo, no `_`, NameError on line 2.
python3's own REPL (`python3 -i`): echoes 4 and 40 — sys.displayhook prints each
  value and keeps it in `_` — then NameError for `_1`: numbered names are IPython's.
Terminal IPython: Out[1]: 4, Out[2]: 40, Out[3]: 44 (`_1 + _2`), a traceback that
  shows the cell's source.
The kernel is that same IPython behind ZeroMQ sockets: one execute_request per line,
  each answered with an execute_result (and its execution_count) or an error.

Stdin here is a pipe, not a terminal, so nothing echoes the typed lines: a prompt is
followed at once by what its line printed (`>>> 4`, `In [1]: Out[1]: 4`).
"""

import subprocess
import sys

from jupyter_client.manager import start_new_kernel

SNIPPET = "2 + 2\n_ * 10\n_1 + _2\nimport math\nmath.sqrt(-1)\n"


def feed(argv):
    """Run argv with the snippet on stdin; stdout and stderr interleaved as written."""
    done = subprocess.run(argv, input=SNIPPET, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)
    return done.stdout.strip("\n") + "\n"


def section(title, look_at):
    print(f"=== {title} ===")
    print(f"(look at: {look_at})")


section("python3 as a script: python3 - < snippet", "no value echoed; line 2 has no `_`")
print(feed([sys.executable, "-u", "-"]))

section("python3's own REPL: python3 -i < snippet", "4 and 40 echoed, so `_` was 4; `_1` is a NameError")
print(feed([sys.executable, "-q", "-u", "-i"]))

section("terminal IPython: python3 -m IPython < snippet", "Out[n] numbers every result; `_1 + _2` is 44")
print(feed([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor",
            "--TerminalInteractiveShell.confirm_exit=False", "--HistoryManager.hist_file=:memory:"]))

section("the python3 kernel: one execute_request per line", "the same counts and results as IPython")


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
