"""06 — Which Python is my kernel?

    uv run python demos/06_which.py

Ask a kernel from inside: sys.executable (the truth) and `!which python3` (only the
PATH). Then start the same kernel with a decoy python3 first on PATH — as if a venv
were activated: `which` moves, sys.executable does not.
"""

import os
import subprocess
import textwrap
import tempfile
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel

ASK = "import sys; print(sys.executable)\n!which python3"


def ask(env=None):
    env = env or dict(os.environ)
    km, kc = start_new_kernel(kernel_name="python3", env=env, stderr=subprocess.DEVNULL)
    try:
        out = []
        kc.execute_interactive(ASK, timeout=30, output_hook=lambda m: out.append(
            m["content"]["text"]) if m["msg_type"] == "stream" else None)
        return "".join(out).split()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


print("kernelspec argv:", " ".join(KernelSpecManager().get_kernel_spec("python3").argv))
executable, which = ask()
print(f"kernel 1, PATH as it is\n  sys.executable  {executable}\n  which python3   {which}")

with tempfile.TemporaryDirectory() as decoy:
    shim = Path(decoy, "python3")
    shim.write_text("#!/bin/sh\necho 'not the python you are looking for'\n")
    shim.chmod(0o755)
    env = dict(os.environ, PATH=decoy + os.pathsep + os.environ["PATH"])
    executable2, which2 = ask(env)
print(f"kernel 2, a decoy python3 first on PATH\n  sys.executable  {executable2}\n  which python3   {which2}")
print(f"sys.executable (unchanged: {executable2 == executable}), which python3 (moved: {which2 != which})")
print(textwrap.fill(
    "Look at: the kernelspec's argv starts the kernel, and sys.executable is the "
    "Python it started — what `import` and `%pip install` use. `!which python3` only "
    "searches PATH, which an activated venv (here, the decoy) changes.", width=78,
    subsequent_indent="  ", break_on_hyphens=False))
print("Rule: check sys.executable first.")
