"""04 — Magics are just functions you can write.

    uv run python demos/04_magics.py

The same cells run in-process through InteractiveShell.run_cell — what a kernel does
with each cell — and then in a real kernel over the wire. `%clap` is not in the
magics table until register_magics puts it there.
"""

import subprocess

from IPython.core.interactiveshell import InteractiveShell
from jupyter_client.manager import start_new_kernel

DEFINE = '''
from IPython.core.magic import Magics, magics_class, line_magic, cell_magic

@magics_class
class Demo(Magics):
    @line_magic
    def clap(self, line):
        return " 👏 ".join(line.split())

    @cell_magic
    def shout(self, line, cell):
        print(cell.upper().rstrip())

get_ipython().register_magics(Demo)
'''
CELLS = [
    "'clap' in get_ipython().magics_manager.magics['line']",  # before: False
    DEFINE,
    "'clap' in get_ipython().magics_manager.magics['line']",  # after: True
    "%clap kernels hold state",
    "%%shout\nstate persists across cells",
]

print("=== in-process: InteractiveShell.run_cell ===")
shell = InteractiveShell.instance()
for cell in CELLS:
    shell.run_cell(cell, store_history=True)  # prints Out[n]: … itself, like terminal IPython

print("\n=== a python3 kernel, one execute_request per cell ===")


def show(msg):
    if msg["msg_type"] == "execute_result":
        print(f"Out[{msg['content']['execution_count']}]: {msg['content']['data']['text/plain']}")
    elif msg["msg_type"] == "stream":
        print(msg["content"]["text"], end="")


km, kc = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
try:
    for cell in CELLS:
        kc.execute_interactive(cell, output_hook=show, timeout=30)
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
