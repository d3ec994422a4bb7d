"""`kij repl-diff` — one snippet, four interpreters: what each layer adds.

What the learner should feel: the echo of a value and `_` are already Python's (its
interactive loop calls sys.displayhook, which prints the value and stores it in `_`);
a script gets neither; IPython adds numbered In/Out history (Out[n], `_2`), rich
tracebacks and magics; the kernel is that same IPython shell behind ZeroMQ sockets.
The same snippet goes to four real processes:

* python3 reading it as a script (`python3 -`): echoes nothing, has no `_`, and dies
  on line two with NameError;
* python3's own REPL (`python3 -i`, the snippet on stdin): echoes 4 and 40, so `_`
  was there, then NameError for `_1` (numbered names are IPython's) and a plain
  ValueError traceback — and it keeps reading after each error;
* terminal IPython on stdin: Out[1]: 4, Out[2]: 40, Out[3]: 44, a traceback naming
  the cell and showing its source line;
* the python3 kernel (IPython again, behind the wire): one execute_request per
  statement, each answered with an execute_result carrying its execution_count, or an
  error message carrying ename and evalue.

Stdin is a file, not a terminal, so nothing echoes the typed line: each prompt is
followed at once by what the line printed (`>>> 4`, `In [1]: Out[1]: 4`). On a
terminal the same REPL shows the typed line too; the values and `_` are the same.

Every sentence of the result's notes and takeaway is computed from this run's capture.
The three subprocesses and the kernel start together, so the lesson costs about one
kernel boot. The subprocesses have a deadline and are killed if they overrun.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from kij import wire
from kij.errors import UserError
from kij.kernel import Kernel, signals_deferred, started, timed

SNIPPET = "2 + 2\n_ * 10\n_1 + _2\nimport math\nmath.sqrt(-1)\n"

# python3 unbuffered (-u), so its values (stdout) and its prompts and tracebacks
# (stderr) reach the shared output file in the order they were written; -q: no banner.
SCRIPT_ARGS = ["-u", "-"]
REPL_ARGS = ["-q", "-u", "-i"]

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
REPL_PROMPT = re.compile(r"^(?:>>> |\.\.\. |>>>$|\.\.\.$)+")
STDIN_LINE = re.compile(r'File "<stdin>", line (\d+)')
# `_`, and IPython's numbered `_1`, `_2`, … (not `x_`, `_private`, `obj._`)
UNDERSCORE = re.compile(r"(?<![\w.])_(?![\w])")
NUMBERED = re.compile(r"(?<![\w.])_\d+(?![\w])")

# What each layer adds, in general: the teaching, true of the real interpreters.
# (The notes say what this run showed of it.)
ADDS = {
    "script": "nothing: each expression's value is computed and dropped",
    "repl": "sys.displayhook: each expression's value echoed and kept in `_`; "
            "the loop reads on after an error",
    "ipython": "numbered In/Out history (Out[n], `_1`, `_2`), tracebacks that show "
               "the cell's source, magics (see `kij magics`)",
    "kernel": "the same IPython shell, driven by messages over ZeroMQ sockets",
}

# The takeaway as one sentence per claim; a run prints only the claims it showed.
CLAIMS = {
    "repl": "Python's own REPL echoes each value and sets `_` (sys.displayhook).",
    "script": "A script does neither.",
    "ipython": "IPython adds numbered Out[n], `_2` and rich tracebacks.",
    "kernel": "The kernel is that same IPython behind ZeroMQ sockets.",
}
TAKEAWAY = " ".join(CLAIMS.values())
# How a claim is named when this run gave no evidence for it.
UNSHOWN = {
    "repl": "the REPL's echo and `_`",
    "script": "a script's lack of both",
    "ipython": "IPython's Out[n], `_2` and rich tracebacks",
    "kernel": "the kernel being that same IPython",
}


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

    name: str  # "python3 - (script)", "python3 -i (REPL)", "IPython", "python3 kernel"
    layer: str  # "script" | "repl" | "ipython" | "kernel"
    fed: str  # how the snippet reached it
    executable: str
    version: str
    transcript: str = ""  # what the process printed, escape codes removed
    # the same, colours as captured: for the rich view only, left out of --json
    transcript_ansi: str = field(default="", metadata={"json": False})
    exit_code: int | None = None
    timed_out: bool = False
    printed: list[str] = field(default_factory=list)  # script/REPL: lines that are not prompts or tracebacks
    outs: dict[int, str] = field(default_factory=dict)  # IPython, kernel: Out[n] → text
    errors: list[str] = field(default_factory=list)  # every "NameError: …" line, in order
    error: str | None = None  # the first of them
    error_line: int | None = None  # the script: the snippet line it died on
    cells: list[KernelCell] = field(default_factory=list)  # the kernel only


@dataclass
class Note:
    """What one layer adds, and what this run showed of it."""

    layer: str
    adds: str  # the general fact (ADDS)
    seen: str  # computed from this run's capture


@dataclass
class ReplDiffResult:
    snippet: str
    interpreters: list[Interpreter] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    stdin_note: str = ""  # why a prompt and its output share a line, when they do
    takeaway: str = TAKEAWAY
    unshown: list[str] = field(default_factory=list)  # CLAIMS keys this run gave no evidence for
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
    if not wire.is_utf8(code):
        raise UserError("--code is not UTF-8 text")
    if not code.strip():
        raise UserError("the snippet is empty: nothing to feed the interpreters")
    return code if code.endswith("\n") else code + "\n"


# --- the three subprocesses ---------------------------------------------------------


@contextlib.contextmanager
def spawned(argv: list[str], snippet: str) -> Iterator[tuple[subprocess.Popen, IO[bytes]]]:
    """Start argv with the snippet on its stdin and its output (stdout and stderr, as
    a terminal would interleave them) in a temporary file; kill it if still alive on
    exit. Files, not pipes, so a process that never reads can never block us. The
    user's PYTHONSTARTUP file is not run: the REPL shows Python, not their setup."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as output:
        stdin.write(snippet.encode())
        stdin.seek(0)
        with signals_deferred():
            proc = subprocess.Popen(argv, stdin=stdin, stdout=output, stderr=subprocess.STDOUT, env=env)
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
    """Bare python3's output, script or REPL: what it printed, and the last line of
    each traceback. Prompts (`>>> `, `... `) are stripped first; a traceback is a
    "Traceback …" header or a `  File …` line, its indented lines, and the one
    unindented line after them (a SyntaxError has no header, only the File line)."""
    in_traceback = False
    for raw in who.transcript.splitlines():
        line = REPL_PROMPT.sub("", raw) if who.layer == "repl" else raw
        if not line.strip():
            continue
        if line.startswith("Traceback (most recent call last):") or line.startswith("  File "):
            in_traceback = True
            found = STDIN_LINE.search(line)
            if found and who.layer == "script":
                who.error_line = int(found.group(1))
        elif in_traceback and line[:1].isspace():
            continue
        elif in_traceback:
            who.errors.append(line.strip())
            in_traceback = False
        else:
            who.printed.append(line)
    who.error = who.errors[0] if who.errors else None
    return who


def ipython_facts(who: Interpreter) -> Interpreter:
    """IPython's Out[n] lines, and the exception line of each traceback."""
    for line in who.transcript.splitlines():
        match = OUT_PROMPT.search(line)
        if match:
            who.outs[int(match.group(1))] = match.group(2)
        elif re.match(r"^\w+(Error|Exception|Warning): ", line):
            who.errors.append(line.strip())
    who.error = who.errors[0] if who.errors else None
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
        name=f"{kernel.name} kernel", layer="kernel",
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
        if cell.ename:
            who.errors.append(f"{cell.ename}: {cell.evalue}")
    who.error = who.errors[0] if who.errors else None
    return who


# --- what each layer adds, from the capture -----------------------------------------


def first_use(snippet: str, name: re.Pattern) -> str | None:
    """The first line of the snippet that uses `_` (or `_1`, …), stripped."""
    return next((line.strip() for line in snippet.splitlines() if name.search(line)), None)


def name_error(who: Interpreter, names: re.Pattern) -> str | None:
    """The NameError this interpreter raised for one of these names, if any."""
    for error in who.errors:
        found = re.match(r"NameError: name '([^']+)' is not defined", error)
        if found and names.fullmatch(found.group(1)):
            return error
    return None


def listing(values: list[str], most: int = 4) -> str:
    shown = ", ".join(values[:most])
    return shown + (f" and {len(values) - most} more" if len(values) > most else "")


def outs_listing(outs: dict[int, str]) -> str:
    return listing([f"Out[{n}]: {text}" for n, text in sorted(outs.items())])


def script_seen(script: Interpreter, snippet: str) -> tuple[str, dict[str, bool]]:
    parts = ["echoed nothing" if not script.printed else f"printed {listing(script.printed)}"]
    underscore = name_error(script, re.compile("_"))
    if script.error and script.exit_code:
        at = f" on line {script.error_line}" if script.error_line else ""
        parts.append(f"died{at}: {script.error}")
    if script.timed_out:
        parts.append("was killed at the deadline")
    elif script.exit_code is not None:
        parts.append(f"exit code {script.exit_code}")
    return "; ".join(parts), {"no_echo": not script.printed, "no_underscore": bool(underscore)}


def repl_seen(repl: Interpreter, snippet: str) -> tuple[str, dict[str, bool]]:
    parts = ["echoed nothing" if not repl.printed else f"echoed {listing(repl.printed)}"]
    use = first_use(snippet, UNDERSCORE)
    has_underscore = bool(use) and not name_error(repl, re.compile("_")) and not repl.timed_out
    if use and has_underscore:
        parts.append(f"`_` was set (`{use}` raised no NameError)")
    elif use:
        parts.append("`_` was not set: " + (name_error(repl, re.compile("_")) or "the REPL did not finish"))
    numbered = name_error(repl, NUMBERED)
    if numbered:
        parts.append(f"{numbered.split('. Did you mean')[0]}: numbered names are IPython's")
    if repl.errors and repl.exit_code == 0:
        parts.append(f"read on after {len(repl.errors)} error(s), exit code 0 at the end of its input")
    return "; ".join(parts), {"echo": bool(repl.printed), "underscore": has_underscore,
                              "no_numbered": bool(numbered), "plain": "Cell In[" not in repl.transcript}


def ipython_seen(ipython: Interpreter, snippet: str) -> tuple[str, dict[str, bool]]:
    parts = [outs_listing(ipython.outs) if ipython.outs else "no Out[n] lines"]
    use = first_use(snippet, NUMBERED)
    numbered_ok = bool(use) and not name_error(ipython, NUMBERED) and bool(ipython.outs)
    if numbered_ok:
        parts.append(f"`{use}` worked")
    cell = re.search(r"Cell In\[\d+\], line \d+", ipython.transcript)
    source = re.search(r"^-+> ?\d+ .*$", ipython.transcript, re.M)
    if cell and source:
        parts.append(f"its traceback names {cell.group(0)} and shows `{source.group(0).strip()}`")
    return "; ".join(parts), {"outs": bool(ipython.outs), "numbered": numbered_ok, "rich": bool(cell and source)}


def kernel_seen(kernel: Interpreter, ipython: Interpreter) -> tuple[str, dict[str, bool]]:
    implementation = kernel.version.split(", ", 1)[-1]
    parts = [f"kernel_info says {implementation}"]
    if kernel.outs:
        parts.append("execute_result " + listing([f"[{n}] {t}" for n, t in sorted(kernel.outs.items())]))
    if kernel.errors:
        parts.append("error " + ", ".join(e.split(":")[0] for e in kernel.errors))
    same = (implementation.startswith("ipython ") and bool(kernel.outs) and kernel.outs == ipython.outs
            and [e.split(":")[0] for e in kernel.errors] == [e.split(":")[0] for e in ipython.errors])
    if same:
        parts.append("every Out[n]" + (" and error" if kernel.errors else "") + " as terminal IPython printed them")
    return "; ".join(parts), {"same": same}


def stdin_note(repl: Interpreter, ipython: Interpreter) -> str:
    """Why `>>> 4` and `In [1]: Out[1]: 4` sit on one line — said only if they do."""
    shown = [m.group(0) for m in (re.search(r"^>>> \S.*$", repl.transcript, re.M),
                                  re.search(r"In \[\d+\]: Out\[\d+\]: .*", ipython.transcript)) if m]
    if not shown:
        return ""
    return (" and ".join(f"`{s}`" for s in shown) + ": the snippet came on stdin from a file, not a "
            "terminal, so nothing echoed the typed line and each prompt is followed at once by "
            "what that line printed.")


def conclude(result: ReplDiffResult, script: Interpreter, repl: Interpreter,
             ipython: Interpreter, kernel: Interpreter) -> None:
    """The notes, one per layer, and the takeaway: each claim only if this run showed it."""
    seen = {}
    for who, (text, evidence) in [
        (script, script_seen(script, result.snippet)),
        (repl, repl_seen(repl, result.snippet)),
        (ipython, ipython_seen(ipython, result.snippet)),
        (kernel, kernel_seen(kernel, ipython)),
    ]:
        result.notes.append(Note(layer=who.layer, adds=ADDS[who.layer], seen=text))
        seen[who.layer] = evidence
    shown = {
        "repl": seen["repl"]["echo"] and seen["repl"]["underscore"],
        "script": seen["script"]["no_echo"] and seen["script"]["no_underscore"],
        # "adds": IPython had what the plain REPL lacked in this same run
        "ipython": (seen["ipython"]["outs"] and seen["ipython"]["numbered"] and seen["ipython"]["rich"]
                    and seen["repl"]["no_numbered"] and seen["repl"]["plain"]),
        "kernel": seen["kernel"]["same"],
    }
    result.unshown = [claim for claim in CLAIMS if not shown[claim]]
    result.takeaway = " ".join(CLAIMS[c] for c in CLAIMS if shown[c])
    if result.unshown:
        missing = {c: UNSHOWN[c] for c in result.unshown}
        # half a claim seen: name only the half that was not
        if seen["repl"]["echo"] and not seen["repl"]["underscore"]:
            missing["repl"] = "that the REPL sets `_`"
        if seen["script"]["no_echo"] and not seen["script"]["no_underscore"]:
            missing["script"] = "that a script has no `_`"
        result.takeaway = (result.takeaway + " " if result.takeaway else "") + (
            "Not shown by this snippet (run it without --code to see them): "
            + "; ".join(missing.values()) + ".")
    result.stdin_note = stdin_note(repl, ipython)


# --- the lesson ---------------------------------------------------------------------


@timed
def run(snippet: str = SNIPPET, kernel_name: str = "python3", timeout: float = 30.0) -> ReplDiffResult:
    """Feed the snippet to python3 as a script, python3's REPL, IPython and a kernel,
    all at the same time: the three processes are spawned first, and run while the
    kernel boots."""
    result = ReplDiffResult(snippet=snippet)
    python_version = f"Python {platform.python_version()}"
    script = Interpreter(
        name="python3 - (script)", layer="script", fed="python3 - < snippet",
        executable=sys.executable, version=python_version,
    )
    repl = Interpreter(
        name="python3 -i (REPL)", layer="repl", fed="python3 -i < snippet",
        executable=f"{sys.executable} -i", version=python_version,
    )
    ipython = Interpreter(
        name="IPython", layer="ipython", fed="python3 -m IPython < snippet",
        executable=f"{sys.executable} -m IPython",
        version=f"IPython {importlib.metadata.version('ipython')} on {python_version}",
    )
    with spawned([sys.executable, *SCRIPT_ARGS], snippet) as script_run, \
            spawned([sys.executable, *REPL_ARGS], snippet) as repl_run, \
            spawned([sys.executable, *IPYTHON_ARGS], snippet) as ipython_run, \
            started([kernel_name]) as (kernel,):
        in_kernel = run_in_kernel(kernel, snippet, timeout)
        deadline = time.monotonic() + timeout
        result.interpreters = [
            python_facts(finish(script_run, script, deadline)),
            python_facts(finish(repl_run, repl, deadline)),
            ipython_facts(finish(ipython_run, ipython, deadline)),
            in_kernel,
        ]
    conclude(result, *result.interpreters)
    return result
