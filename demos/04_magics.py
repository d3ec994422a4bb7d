"""04 — Magics are just functions you can write.

    uv run python demos/04_magics.py

The same cells run in-process through InteractiveShell.run_cell — what a kernel does
with each cell — and then in a real kernel over the wire. `%clap` is not in the
magics table until register_magics puts it there.
"""

import subprocess
import textwrap

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



def label(n, cell):
    """The cell as an In [n] line: its text, or a summary of the many-line DEFINE cell."""
    text = "(defines class Demo: %clap, %%shout; register_magics(Demo))" if cell == DEFINE else cell
    return f"In [{n}]: " + text.replace("\n", "\n        ")


print("=== in-process: InteractiveShell.run_cell ===")
shell = InteractiveShell.instance()
in_process = []  # each cell's value, as Out[n] shows it
for n, cell in enumerate(CELLS, 1):
    print(label(n, cell))
    result = shell.run_cell(cell, store_history=True)  # prints Out[n]: … itself, like terminal IPython
    if result.result is not None:
        in_process.append(repr(result.result))

print("\n=== a python3 kernel, one execute_request per cell ===")


in_kernel = []


def show(msg):
    if msg["msg_type"] == "execute_result":
        in_kernel.append(msg["content"]["data"]["text/plain"])
        print(f"Out[{msg['content']['execution_count']}]: {msg['content']['data']['text/plain']}")
    elif msg["msg_type"] == "stream":
        print(msg["content"]["text"], end="")


km, kc = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
try:
    for n, cell in enumerate(CELLS, 1):
        print(label(n, cell))
        kc.execute_interactive(cell, output_hook=show, timeout=30)
    print()
    print(textwrap.fill(
        "Look at: Out[1] is False — %clap is not in the magics table until cell 2 "
        "registers it, and Out[3] is True. `%clap kernels hold state` called clap() with "
        "the rest of the line; `%%shout` handed shout() the whole cell, which printed "
        "(a stream, so no Out[5]). "
        + ("The kernel's Out values match the in-process ones: an IPython kernel runs each "
           "cell through that same InteractiveShell." if in_kernel == in_process else
           f"The kernel's Out values differ from the in-process ones: {in_kernel} vs {in_process}."),
        width=78, subsequent_indent="  ", break_on_hyphens=False))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
