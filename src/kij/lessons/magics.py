"""`kij magics` — magics are just functions you can write.

What the learner should feel: `%clap` is not part of Python, and not built into
IPython either. It does not exist until `%load_ext kij.magics` registers a function
under that name; after that IPython intercepts the line before Python sees it.

The same cells run twice:

* in-process, through `InteractiveShell.run_cell` — exactly what a kernel does with
  each cell it is sent;
* in a real python3 kernel, over the wire, one execute_request per cell.

Both say `%clap` is absent from `%lsmagic` before the load and present after, and
both produce the same output — because the kernel *is* an InteractiveShell (a
ZMQInteractiveShell) with sockets in front of it.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass, field

from kij.kernel import Kernel, ready, started, timed

EXTENSION = "kij.magics"

# (label, cell) in the order both shells run them
CELLS = [
    ("which shell", "type(get_ipython()).__name__"),
    ("before", "%lsmagic"),
    ("load", f"%load_ext {EXTENSION}"),
    ("after", "%lsmagic"),
    ("registered as", "get_ipython().find_line_magic('clap').__qualname__"),
    ("line magic", "%clap kernels hold state"),
    ("cell magic", "%%shout\nstate persists across cells"),
]
# the cells whose output must be the same in both shells
COMPARED = ["load", "registered as", "line magic", "cell magic"]

TAKEAWAY = (
    "A magic is a registered function: absent from %lsmagic until %load_ext added it, "
    "then the same in-process and in a kernel — because a kernel is an InteractiveShell "
    "behind sockets."
)


@dataclass
class CellRun:
    """One cell in one shell."""

    label: str
    code: str
    execution_count: int | None = None
    stdout: str = ""  # what the cell printed (in-process: including the Out[n] echo)
    result: str | None = None  # the value's text/plain (the kernel's execute_result)
    error: str | None = None
    # for %lsmagic: which magics it listed
    clap_listed: bool | None = None
    shout_listed: bool | None = None
    line_magics: list[str] | None = None
    cell_magics: list[str] | None = None

    @property
    def output(self) -> str:
        """What the cell produced, however it was delivered: its value, else its print."""
        if self.error:
            return self.error
        return (self.result if self.result is not None else self.stdout).strip()


@dataclass
class Shell:
    where: str  # "in-process" | "python3 kernel"
    how: str
    cells: list[CellRun] = field(default_factory=list)


@dataclass
class Comparison:
    label: str
    in_process: str
    kernel: str
    equal: bool


@dataclass
class MagicsResult:
    shells: list[Shell] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    all_equal: bool = False
    kernel_only_magics: list[str] = field(default_factory=list)  # ipykernel's own additions
    takeaway: str = TAKEAWAY
    elapsed_ms: float = 0.0


def _listing_facts(cell: CellRun) -> None:
    """Read %lsmagic's text: is %clap / %%shout there, how many magics of each kind."""
    text = cell.result or cell.stdout
    line_part, _, cell_part = text.partition("Available cell magics:")
    cell.line_magics = re.findall(r"(?<![%\w])%\w+", line_part)
    cell.cell_magics = re.findall(r"%%[\w!]+", cell_part)
    cell.clap_listed = "%clap" in line_part
    cell.shout_listed = "%%shout" in cell_part


# --- (a) in-process -----------------------------------------------------------------


def in_process() -> Shell:
    """Run the cells through an InteractiveShell in this very process."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"  # write nothing to the user's profile
    shell = InteractiveShell.instance(config=config)
    ran = Shell(where="in-process", how="InteractiveShell.run_cell")
    for label, code in CELLS:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            outcome = shell.run_cell(code, store_history=True)
        cell = CellRun(label=label, code=code, execution_count=outcome.execution_count, stdout=out.getvalue())
        if outcome.result is not None:
            cell.result = shell.display_formatter.format(outcome.result)[0].get("text/plain")
        failure = outcome.error_in_exec or outcome.error_before_exec
        if failure is not None:
            cell.error = f"{type(failure).__name__}: {failure}"
        ran.cells.append(cell)
    return ran


# --- (b) in a kernel ----------------------------------------------------------------


def in_kernel(kernel: Kernel, timeout: float) -> Shell:
    """Run the same cells in a kernel, one execute_request each."""
    ran = Shell(where=f"{kernel.name} kernel", how="execute_request on shell")
    for label, code in CELLS:
        got = kernel.execute(code, timeout=timeout)
        cell = CellRun(label=label, code=code, execution_count=got.execution_count,
                       stdout=got.stdout, result=got.result)
        if got.ename:
            cell.error = f"{got.ename}: {got.evalue}"
        ran.cells.append(cell)
    return ran


# --- the lesson ---------------------------------------------------------------------


@timed
def run(kernel_name: str = "python3", timeout: float = 30.0) -> MagicsResult:
    """The kernel (a fresh one: %clap not yet loaded) boots while the in-process shell runs."""
    result = MagicsResult()
    with started([kernel_name], wait=False) as (kernel,):
        local = in_process()
        ready([kernel])
        remote = in_kernel(kernel, timeout)
    result.shells = [local, remote]
    for shell in result.shells:
        for cell in shell.cells:
            if cell.code == "%lsmagic":
                _listing_facts(cell)
    by_label = [{c.label: c for c in shell.cells} for shell in result.shells]
    for label in COMPARED:
        a, b = by_label[0][label].output, by_label[1][label].output
        result.comparisons.append(Comparison(label=label, in_process=a, kernel=b, equal=a == b))
    result.all_equal = all(c.equal for c in result.comparisons)
    before = [by_label[0]["before"].line_magics or [], by_label[1]["before"].line_magics or []]
    result.kernel_only_magics = [m for m in before[1] if m not in before[0]]
    return result
