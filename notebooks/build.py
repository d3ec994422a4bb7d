"""Builds the companion notebook from the readable list of cells below, then runs it.

This file is the notebook's source: edit the cells here, then

    uv run python notebooks/build.py

writes `notebooks/kij-companion.ipynb` and executes every cell in a real python3 kernel
(nbclient), so the outputs committed with it are real. Diffs stay readable because
the cells live here as plain text.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
NOTEBOOK = HERE / "kij-companion.ipynb"

# (kind, source) pairs, in order. "md" is markdown, "code" is a code cell.
CELLS: list[tuple[str, str]] = [
    ("md", """\
# kij companion — kernel · IPython · Jupyter, for those who click

Each section mirrors a `kij` lesson. Run the cells top to bottom (**Run → Run All Cells**).
Everything below is real: this notebook's kernel is a separate process, and some cells
start *other* kernels and talk to them over ZeroMQ."""),
    ("md", """\
## 1. Which Python is my kernel?

`sys.executable` is the interpreter *this kernel* runs. `!which python3` asks the shell's
PATH — often a different Python. When an import works in your terminal but not here,
check `sys.executable` first."""),
    ("code", "import sys\nsys.executable"),
    ("code", "!which python3"),
    ("code", "sys.prefix"),
    ("md", """\
## 2. State lives in the kernel, not in the cells

Cell A defines `secret`; cell B uses it — because both ran in the same process."""),
    ("code", "secret = 6 * 7"),
    ("code", "secret * 2"),
    ("md", """\
**Kernel → Restart** would empty that process. Rather than restart the kernel you are
reading this with, this cell starts a *second* kernel with kij, gives it a `secret`,
restarts it, and asks again: a new PID, and the name is gone."""),
    ("code", """\
from kij.kernel import started

with started(["python3"]) as (other,):
    other.execute("secret = 'set in the other kernel'")
    before = other.pid
    other.restart()
    again = other.execute("secret")
print(f"PID {before} → {other.pid} after the restart")
print(f"{again.ename}: {again.evalue}")"""),
    ("md", """\
## 3. `_` is Python's; `In`, `Out` and `_2` are IPython's

Python's own REPL (`python3 -i`) already echoes each value and keeps the last one in
`_`: that is `sys.displayhook`. A script (`python3 file.py`) does neither. IPython,
which this kernel wraps, adds numbered history on top: every input in `In`, every
result in `Out`, and `_1`, `_2`, … for `Out[1]`, `Out[2]`, …"""),
    ("code", "2 + 2"),
    ("code", "_ * 10"),
    ("code", "In[-3:-1], Out[max(Out)]"),
    ("md", """\
The same lines fed to the plain REPL, for real: its values (`sys.displayhook`'s
echoes) arrive on stdout; its prompts and tracebacks on stderr. `_` works, `_1` does
not. (`kij repl-diff` shows a script, this REPL, terminal IPython and a kernel side
by side.)"""),
    ("code", """\
import subprocess

plain = subprocess.run([sys.executable, "-q", "-i"], input="2 + 2\\n_ * 10\\n_1\\n",
                       capture_output=True, text=True, timeout=60)
print("echoed on stdout:", plain.stdout.split())
print("on stderr:", [line for line in plain.stderr.splitlines() if "Error" in line])"""),
    ("md", """\
## 4. Built-in magics

Lines starting with `%` (and cells starting with `%%`) never reach Python: IPython
intercepts them. We work in a temporary directory so nothing is left behind."""),
    ("code", "import tempfile\nworkdir = tempfile.TemporaryDirectory()\n%cd {workdir.name}"),
    ("code", "%timeit -n 1000 sum(range(100))"),
    ("code", "%who"),
    ("code", "%%writefile hello.py\nprint('hello from a file that a cell magic wrote')"),
    ("code", "%run hello.py"),
    ("md", "## 5. `!` — the shell, captured into Python"),
    ("code", "listing = !ls\nlisting"),
    ("code", "!echo the secret is {secret}"),
    ("code", "%cd -q -\nworkdir.cleanup()"),
    ("md", """\
## 6. kij's own magics: a magic is just a registered function

Not in `%lsmagic` until the extension registers them."""),
    ("code", "'clap' in str(get_ipython().find_line_magic('clap'))"),
    ("code", "%load_ext kij.magics"),
    ("code", "%clap kernels hold state"),
    ("code", "%%shout\nstate persists across cells"),
    ("md", """\
## 7. The frames of one execute_request — a kernel watching a kernel

This cell uses kij to start a *second* kernel, opens kij's own ZeroMQ sockets onto it,
and prints every multipart frame of one execute_request: routing identity, the
`<IDS|MSG>` delimiter, the HMAC signature (recomputed and checked), header,
parent_header, metadata, content."""),
    ("code", """\
from kij.cli import echo
from kij.lessons import frames as frames_lesson
from kij.views import frames as frames_view

capture = frames_lesson.run(code="x = 6 * 7; print('the answer is', x); x")
echo(frames_view.render(capture))  # a view returns what to draw; echo prints it, as kij does"""),
    ("md", """\
The same capture as a picture: a capture has `_repr_html_`, so leaving it as a cell's
last line draws it as `kij view` does — a lane per socket, one arrow per message,
replies tied to their request. Click a message for its frames; filter by channel.
(No frame below? JupyterLab sanitizes the saved HTML outputs of a notebook it does not
trust: run the cell to draw it.)"""),
    ("code", "capture  # kij view CAPTURE writes the same page to a file"),
    ("md", """\
## 8. Swap the kernel, keep the client

The same client function `ask` that `kij swap` uses drives a bash kernel from here."""),
    ("code", """\
from kij.lessons.swap import ask

with started(["bash"]) as (bash,):
    answer = ask(bash, timeout=30)
print(answer.language, answer.implementation, answer.implementation_version)
print(answer.output)"""),
    ("md", """\
## 9. `%px` — engines are kernels too

ipyparallel runs code on *engines*: IPython kernels that connect out to a controller
instead of waiting for a frontend. This cell starts a controller and two engines on
this machine with ipyparallel's own API, in a temporary profile directory (so the
cluster writes nothing into `~/.ipython`), and connects a client. A first client
created inside IPython also registers the `%px` magics, on a view of every engine."""),
    ("code", """\
import logging
import os
import socket
import tempfile

import ipyparallel as ipp

profile = tempfile.TemporaryDirectory(prefix="kij-px-")  # removed when this kernel exits, at the latest
cluster = ipp.Cluster(n=2, profile_dir=profile.name, log_level=logging.ERROR)  # no chatter
rc = cluster.start_and_connect_sync()  # the bar: ipyparallel waiting for engines to register
rc.ids"""),
    ("md", """\
`%px` runs its line on every engine; what each one prints comes back tagged
`[stdout:N]`, N being the engine's id, in whichever order they answer. The same host
name as this kernel's, two other PIDs: two more processes on this machine."""),
    ("code", "%px import os, socket; print(socket.gethostname(), os.getpid())"),
    ("code", "print('this kernel:', socket.gethostname(), os.getpid())"),
    ("md", """\
Ask each engine what its kernel object is: ipyparallel's `IPythonParallelKernel`, a
subclass of ipykernel's `IPythonKernel` — the class of the kernel running this
notebook (the cell after)."""),
    ("code", "%px type(get_ipython().kernel).__mro__[:2]"),
    ("code", "type(get_ipython().kernel).__mro__[:2]"),
    ("md", """\
A load-balanced view sends each item to whichever engine the controller's task
scheduler picks; the PID in each result says which engine ran it (the split need not
be even)."""),
    ("code", """\
def square(x):
    import os
    return x * x, os.getpid()

rc.load_balanced_view().map_sync(square, range(6))"""),
    ("md", """\
Stop it all. The first line counts the processes this kernel started and the ones they
started: the controller and the processes it forks for its heart monitor, schedulers
and queues, the engines, and a *nanny* per engine (it relays signals to its engine and
tells the controller when the engine exits). Then: close the client, stop the engines and the
controller, remove the profile directory, and wait — up to 30 s — for every one of
those processes to be gone. (Had a cell above failed, ipyparallel would still stop
the cluster when this kernel shuts down: `Cluster(shutdown_atexit=True)` is its
default.) `uv run kij parallel` shows the wire underneath: engines registering with
the controller, `apply_request` carrying a pickled function as buffers, the task
scheduler routing it."""),
    ("code", """\
from collections import Counter

import psutil

ours = psutil.Process().children(recursive=True)  # this kernel's processes, and theirs
print("running:", dict(Counter(" ".join(p.cmdline()[1:3]) for p in ours)))
rc.close()
cluster.stop_cluster_sync()
profile.cleanup()
gone, alive = psutil.wait_procs(ours, timeout=30)  # a nanny exits just after its engine
print("still running:", alive)"""),
]


def build():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in CELLS:
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(make(source))
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs small
        cell["id"] = f"cell-{i:02d}"
    return nb


def execute(nb, cwd: Path = HERE, timeout: int = 120):
    """Run every cell in a fresh python3 kernel (headless), in place."""
    from nbclient import NotebookClient

    NotebookClient(nb, kernel_name="python3", timeout=timeout, coalesce_streams=True,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def main() -> None:
    import nbformat

    nb = execute(build())
    nbformat.write(nb, NOTEBOOK)
    print(f"wrote {NOTEBOOK} ({len(nb.cells)} cells, executed)", file=sys.stderr)


if __name__ == "__main__":
    main()
