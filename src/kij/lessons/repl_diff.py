"""`kij repl-diff` — bare python3 vs IPython vs the kernel: same bytes, different world.

What the learner should feel: everything that makes a notebook feel alive — the echo
of each value, `_`, numbered In/Out, rich tracebacks — comes from IPython, not from
Python and not from the browser. The same snippet goes to three real processes:

* bare python3 reading it as a script on stdin: echoes nothing, has no `_`, and dies
  on line two with NameError;
* terminal IPython reading it on stdin: Out[1]: 4, Out[2]: 40, a ValueError traceback;
* the python3 kernel (IPython again, behind the wire): one execute_request per
  statement, each answered with an execute_result carrying its execution_count, or an
  error message carrying ename and evalue.

The two subprocesses and the kernel start together, so the lesson costs about one
kernel boot. The subprocesses have a deadline and are killed if they overrun.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from kij.errors import UserError
from kij.kernel import Kernel, ready, signals_deferred, using

SNIPPET = "2 + 2\n_ * 10\nimport math\nmath.sqrt(-1)\n"

# Terminal IPython, quiet and forgetful: no banner, no "really exit?", no history
# written to the user's profile. Colours stay on (the view renders or drops them).
IPYTHON_ARGS = [
    "-m", "IPython", "--no-banner",
    "--TerminalInteractiveShell.confirm_exit=False",
    "--HistoryManager.hist_file=:memory:",
]

# An ANSI escape sequence (colour, cursor): removed wherever plain text is wanted.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
OUT_PROMPT = re.compile(r"Out\[(\d+)\]: (.*)")

TAKEAWAY = (
    "The echo, `_`, Out[n] and the rich traceback come from IPython — in the terminal "
    "and inside the kernel — not from Python, and not from the notebook."
)


@dataclass
class KernelCell:
    """One execute_request and what came back for it."""

    code: str
    execution_count: int | None
    msg_types: list[str]
    result: str | None  # execute_result's text/plain
    stdout: str
    ename: str | None
    evalue: str | None


@dataclass
class Interpreter:
    """One interpreter's run of the snippet."""

    name: str  # "python3", "IPython", "python3 kernel"
    fed: str  # how the snippet reached it
    executable: str
    version: str
    transcript: str = ""  # what the process printed, escape codes removed
    # the same, colours as captured: for the rich view only, left out of --json
    transcript_ansi: str = field(default="", metadata={"json": False})
    exit_code: int | None = None
    timed_out: bool = False
    outs: dict[int, str] = field(default_factory=dict)  # Out[n] → text
    error: str | None = None  # "NameError: name '_' is not defined"
    cells: list[KernelCell] = field(default_factory=list)  # the kernel only


@dataclass
class ReplDiffResult:
    snippet: str
    interpreters: list[Interpreter] = field(default_factory=list)
    takeaway: str = TAKEAWAY
    elapsed_ms: float = 0.0


# --- the snippet --------------------------------------------------------------------


def snippet_from(code: str | None = None, file: str | Path | None = None) -> str:
    """The snippet to feed: --code, --file, or the blog post's four lines.
    A UserError says what is wrong with a bad one."""
    if code is not None and file is not None:
        raise UserError("give --code or --file, not both")
    if file is not None:
        path = Path(file)
        if path.is_dir():
            raise UserError(f"{path} is a directory, not a Python file")
        if not path.is_file():
            raise UserError(f"no such file: {path}")
        data = path.read_bytes()
        if b"\0" in data:
            raise UserError(f"{path} is a binary file, not Python source")
        try:
            code = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{path} is not UTF-8 text") from None
    if code is None:
        return SNIPPET
    if not is_utf8(code):
        raise UserError("--code is not UTF-8 text")
    if not code.strip():
        raise UserError("the snippet is empty: nothing to feed the interpreters")
    return code if code.endswith("\n") else code + "\n"


def is_utf8(text: str) -> bool:
    """False for a command-line argument whose bytes were not UTF-8 (Python keeps
    them as lone surrogates, which no interpreter or JSON message can carry)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- the two subprocesses -----------------------------------------------------------


@contextlib.contextmanager
def spawned(argv: list[str], snippet: str) -> Iterator[tuple[subprocess.Popen, IO[bytes]]]:
    """Start argv with the snippet on its stdin and its output (stdout and stderr, as
    a terminal would interleave them) in a temporary file; kill it if still alive on
    exit. Files, not pipes, so a process that never reads can never block us."""
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as output:
        stdin.write(snippet.encode())
        stdin.seek(0)
        with signals_deferred():
            proc = subprocess.Popen(argv, stdin=stdin, stdout=output, stderr=subprocess.STDOUT)
        try:
            yield proc, output
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def finish(spawn: tuple[subprocess.Popen, IO[bytes]], who: Interpreter, deadline: float) -> Interpreter:
    """Wait for a spawned process until the deadline (then kill it); fill in what it printed."""
    proc, output = spawn
    try:
        who.exit_code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        who.timed_out = True
    output.seek(0)
    who.transcript_ansi = output.read().decode("utf-8", "replace")
    who.transcript = ANSI.sub("", who.transcript_ansi)
    return who


def python_facts(who: Interpreter) -> Interpreter:
    """Bare python3's last words: the exception on its final line, if it died of one."""
    lines = who.transcript.strip().splitlines()
    if who.exit_code and lines and re.match(r"^\w+(Error|Exception)\b", lines[-1]):
        who.error = lines[-1]
    return who


def ipython_facts(who: Interpreter) -> Interpreter:
    """IPython's Out[n] lines, and the exception line of any traceback."""
    for line in who.transcript.splitlines():
        match = OUT_PROMPT.search(line)
        if match:
            who.outs[int(match.group(1))] = match.group(2)
        elif re.match(r"^\w+(Error|Exception): ", line) and who.error is None:
            who.error = line.strip()
    return who


# --- the kernel ---------------------------------------------------------------------


def statements(kernel: Kernel, snippet: str) -> list[str]:
    """Cut the snippet into cells the way a console frontend does: add lines until the
    kernel says (is_complete_request) the code so far is complete. Blank lines between
    statements are skipped, as terminal IPython skips them."""
    cells, pending = [], []
    for line in snippet.splitlines():
        if not pending and not line.strip():
            continue
        pending.append(line)
        if kernel.is_complete("\n".join(pending) + "\n") != "incomplete":
            cells.append("\n".join(pending))
            pending = []
    if pending:
        cells.append("\n".join(pending))
    return cells


def run_in_kernel(kernel: Kernel, snippet: str, timeout: float) -> Interpreter:
    info = kernel.info or kernel.kernel_info()
    lang = info.get("language_info", {})
    who = Interpreter(
        name=f"{kernel.name} kernel",
        fed="one execute_request per statement",
        executable="",
        version=f"{lang.get('name', '?')} {lang.get('version', '')}, "
                f"{info.get('implementation', '?')} {info.get('implementation_version', '')}".strip(),
    )
    # sys.executable, asked as a user_expression: no cell of its own, no count used
    ask = {"executable": "__import__('sys').executable"}
    for code in statements(kernel, snippet):
        cell = kernel.execute(code, timeout=timeout, user_expressions=ask if not who.executable else None)
        found = cell.user_expressions.get("executable", {}).get("data", {}).get("text/plain")
        if found:
            who.executable = found.strip("'\"")
        who.cells.append(KernelCell(
            code=code, execution_count=cell.execution_count, msg_types=cell.msg_types,
            result=cell.result, stdout=cell.stdout, ename=cell.ename, evalue=cell.evalue,
        ))
        if cell.result is not None and cell.execution_count is not None:
            who.outs[cell.execution_count] = cell.result
        if cell.ename and who.error is None:
            who.error = f"{cell.ename}: {cell.evalue}"
    return who


# --- the lesson ---------------------------------------------------------------------


def run(
    snippet: str = SNIPPET,
    kernel_name: str = "python3",
    timeout: float = 30.0,
    kernels: list[Kernel] | None = None,
) -> ReplDiffResult:
    """Feed the snippet to python3, IPython and a kernel at the same time.
    `kernels`, when given, is one fresh kernel launched for this lesson by kij tour."""
    t0 = time.monotonic()
    result = ReplDiffResult(snippet=snippet)
    python = Interpreter(
        name="python3", fed="the snippet as a script on stdin",
        executable=sys.executable, version=f"Python {platform.python_version()}",
    )
    ipython = Interpreter(
        name="IPython", fed="the snippet on stdin, one line per prompt",
        executable=f"{sys.executable} -m IPython",
        version=f"IPython {importlib.metadata.version('ipython')} on Python {platform.python_version()}",
    )
    with using(kernels, [kernel_name]) as (kernel,), \
            spawned([sys.executable, "-"], snippet) as python_run, \
            spawned([sys.executable, *IPYTHON_ARGS], snippet) as ipython_run:
        ready([kernel])
        in_kernel = run_in_kernel(kernel, snippet, timeout)
        deadline = time.monotonic() + timeout
        result.interpreters = [
            python_facts(finish(python_run, python, deadline)),
            ipython_facts(finish(ipython_run, ipython, deadline)),
            in_kernel,
        ]
    result.elapsed_ms = round((time.monotonic() - t0) * 1000, 1)
    return result
