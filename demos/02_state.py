"""02 — State lives in the kernel, not in the cells.

    uv run python demos/02_state.py

Cell 1 defines `secret`, cell 2 uses it: same process. A second client, attached
through the connection file, sees it too. Restart the kernel and it is gone.
"""

import subprocess
import textwrap

from jupyter_client import BlockingKernelClient
from jupyter_client.manager import start_new_kernel


def run(client, code):
    """Run one cell; return its result text or its error."""
    got = []

    def hook(msg):
        if msg["msg_type"] == "execute_result":
            got.append(msg["content"]["data"]["text/plain"])
        elif msg["msg_type"] == "error":
            got.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

    client.execute_interactive(code, output_hook=hook, timeout=30)
    return got[0] if got else "(no output)"


# stderr=DEVNULL: keep the kernel's start-up warnings off the slide
km, kc = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
try:
    print("cell 1   secret = 6 * 7  →", run(kc, "secret = 6 * 7"))
    print("cell 2   secret * 2      →", run(kc, "secret * 2"))

    other = BlockingKernelClient(connection_file=km.connection_file)
    other.load_connection_file()
    other.start_channels()
    other.wait_for_ready(timeout=30)
    print("client B secret          →", run(other, "secret"), " (another client, same kernel)")
    other.stop_channels()

    pid = run(kc, "import os; os.getpid()")
    km.restart_kernel(now=True)
    kc.wait_for_ready(timeout=60)
    new_pid = run(kc, "import os; os.getpid()")
    print(f"restart: PID {pid} → {new_pid}")
    after = run(kc, "secret * 2")
    print("cell 2   secret * 2      →", after)
    print(textwrap.fill(
        f"Look at: client B read `secret` without defining it — one kernel process, two "
        f"clients. The restart changed the PID ({pid} → {new_pid}) and cell 2, the same "
        f"text as before, now gives {after.split(':')[0]}: the state lived in the "
        f"process, never in the cells.", width=78, subsequent_indent="  ", break_on_hyphens=False))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
