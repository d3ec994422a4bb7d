"""`kij which` — which Python is my kernel?

What the learner should feel: a kernel is a process, launched with one specific
interpreter, and it keeps that interpreter for its whole life. Asked from inside:

* `sys.executable` is the truth: the interpreter the kernel process runs;
* `!which python3` is only the shell's PATH — often a different Python.

The kernelspec says how the kernel was launched (and jupyter_client replaces a bare
`python` in its argv with its *own* sys.executable, so PATH never got a say).

Then the classic trap, made real: a second kernel of the same kind is started with a
PATH whose first python3 is a different program (a throwaway script in a temporary
directory) — as if a venv had been activated. `sys.executable` does not move;
`!which python3` does. The rule: check `sys.executable` first.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from kij.errors import UserError
from kij.kernel import Kernel, check_kernel_names, kernelspec, kernelspec_language, started, timed

# Asked alongside the cell as user_expressions: evaluated inside the kernel, no cell of
# their own.
ASK = {
    "executable": "__import__('sys').executable",
    "prefix": "__import__('sys').prefix",
}
WHICH = "!which python3"
RUN_IT = "!python3 --version"

DECOY_SCRIPT = """#!/bin/sh
echo "decoy python3 from kij which: not your kernel's interpreter"
"""

RULE = "Check sys.executable first: it is the kernel's interpreter. `!which python3` is only the PATH."
TAKEAWAY = (
    "A kernel keeps the interpreter it was launched with: a different PATH moved "
    "`which python3`, not sys.executable."
)


@dataclass
class Decoy:
    """A temporary directory holding a `python3` that is not Python, and an environment
    with that directory first on PATH."""

    directory: str
    program: str
    env: dict = field(repr=False, metadata={"json": False})


@dataclass
class Asked:
    """What one kernel said about itself, from inside."""

    label: str
    path_first: str  # the first directory on the kernel's PATH
    executable: str | None = None  # sys.executable
    prefix: str | None = None  # sys.prefix
    which_python3: str | None = None  # !which python3
    python3_says: str | None = None  # !python3 --version
    pid: int | None = None


@dataclass
class WhichResult:
    kernel: str
    spec_argv: list[str] = field(default_factory=list)  # the kernelspec's argv
    spec_dir: str = ""
    launched_argv: list[str] = field(default_factory=list)  # what jupyter_client ran
    kij_executable: str = sys.executable
    kij_prefix: str = sys.prefix
    kij_which_python3: str | None = None
    kernels: list[Asked] = field(default_factory=list)
    decoy: Decoy | None = None
    decoy_removed: bool | None = None  # checked after the lesson, when it made the decoy
    executable_unchanged: bool = False
    which_moved: bool = False
    rule: str = RULE
    takeaway: str = TAKEAWAY
    elapsed_ms: float = 0.0


# The decoy of an enclosing decoy_python() block: kij tour makes one, launches the
# lesson's second kernel with it up front, and the lesson's own block reuses it.
_decoy: contextvars.ContextVar[Decoy | None] = contextvars.ContextVar("kij_decoy", default=None)


@contextlib.contextmanager
def decoy_python() -> Iterator[Decoy]:
    """Create the decoy python3 and remove it (directory and all) afterwards — or, inside
    another decoy_python() block, yield that one (its block removes it)."""
    if _decoy.get() is not None:
        yield _decoy.get()
        return
    with tempfile.TemporaryDirectory(prefix="kij-decoy-") as directory:
        program = Path(directory) / "python3"
        program.write_text(DECOY_SCRIPT)
        program.chmod(program.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        env = dict(os.environ, PATH=directory + os.pathsep + os.environ.get("PATH", ""))
        decoy = Decoy(directory=directory, program=str(program), env=env)
        token = _decoy.set(decoy)
        try:
            yield decoy
        finally:
            _decoy.reset(token)


def check_python_kernel(name: str) -> None:
    """sys.executable is a Python question: refuse a kernel of another language."""
    check_kernel_names([name])
    language = kernelspec_language(name) or "unnamed-language"
    if language.lower() != "python":
        raise UserError(f"`which` asks a kernel for sys.executable, so it needs a Python kernel; "
                        f"{name!r} is a {language} kernel")


def ask(kernel: Kernel, label: str, path: str, timeout: float) -> Asked:
    asked = Asked(label=label, path_first=path.split(os.pathsep)[0], pid=kernel.pid)
    cell = kernel.execute(WHICH, timeout=timeout, user_expressions=ASK)
    found = {k: v.get("data", {}).get("text/plain", "").strip("'\"") for k, v in cell.user_expressions.items()}
    asked.executable, asked.prefix = found.get("executable"), found.get("prefix")
    asked.which_python3 = cell.stdout.strip() or None
    asked.python3_says = kernel.execute(RUN_IT, timeout=timeout).stdout.strip() or None
    return asked


@timed
def run(kernel_name: str = "python3", timeout: float = 30.0) -> WhichResult:
    """Two kernels of one kind: one with kij's environment, one with the decoy first on
    PATH (inside kij tour, the tour's decoy: its kernels were launched up front with it)."""
    check_python_kernel(kernel_name)
    spec = kernelspec(kernel_name)
    result = WhichResult(kernel=kernel_name, spec_argv=list(spec.argv), spec_dir=spec.resource_dir,
                         kij_which_python3=shutil.which("python3"))
    own_decoy = _decoy.get() is None
    with contextlib.ExitStack() as stack:  # on exit: the kernels go first, then the decoy
        decoy = stack.enter_context(decoy_python())
        result.decoy = decoy
        kernels = stack.enter_context(started([kernel_name] * 2, envs=[None, decoy.env]))
        plain, tricked = kernels
        result.launched_argv = plain.manager.format_kernel_cmd() if plain.manager else []
        result.kernels = [
            ask(plain, "kij's PATH", os.environ.get("PATH", ""), timeout),
            ask(tricked, "decoy first on PATH", decoy.env["PATH"], timeout),
        ]
    if own_decoy:
        result.decoy_removed = not Path(decoy.directory).exists()
    a, b = result.kernels
    result.executable_unchanged = a.executable == b.executable and a.executable is not None
    result.which_moved = a.which_python3 != b.which_python3
    return result
