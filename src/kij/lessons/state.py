"""`kij state` — state lives in the kernel, not in the cells.

What the learner should feel: a notebook's variables are not in the notebook. Cell 1
defines `secret`, cell 2 uses it, because both ran in the same process. A second,
independent client attached through the connection file sees the same `secret`:
two frontends, one kernel, one state. Restart the kernel — a new PID — and cell 2
fails with NameError: the state was in the process, never in a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kij.errors import KernelFault
from kij.kernel import Cell, Kernel, attached, started, timed

CELL_1 = "secret = 6 * 7"
CELL_2 = "secret * 2"
PEEK = "secret"
# Asked alongside each cell as a user_expression: evaluated in the kernel without
# running a cell of its own, so it bumps no execution count and leaves no name behind.
ASK_PID = {"pid": "__import__('os').getpid()"}

TAKEAWAY = (
    "State lives in the kernel process: two clients shared it, a restart erased it, "
    "and no file ever held it."
)


@dataclass
class StateStep:
    """One cell run by one client, and what came back."""

    label: str
    client: str  # which frontend sent it
    session: str  # that client's session id (each frontend has its own)
    code: str
    kernel_pid: int | None
    execution_count: int | None
    status: str
    output: str | None  # the execute_result text, if any
    error: str | None  # "NameError: name 'secret' is not defined", if any
    elapsed_ms: float
    restarted: bool = False  # the first cell after the kernel restarted (a new process)


@dataclass
class StateResult:
    kernel: str
    connection_file: str
    steps: list[StateStep] = field(default_factory=list)
    pid_before_restart: int | None = None
    pid_after_restart: int | None = None
    takeaway: str = TAKEAWAY
    elapsed_ms: float = 0.0


def _step(label: str, client: str, kernel: Kernel, code: str, timeout: float) -> StateStep:
    cell: Cell = kernel.execute(code, timeout=timeout, user_expressions=ASK_PID)
    pid = cell.user_expressions.get("pid", {}).get("data", {}).get("text/plain")
    return StateStep(
        label=label,
        client=client,
        session=kernel.client.session.session,
        code=code,
        # the kernel's own answer when it gave one (user_expressions are skipped when
        # a cell fails); otherwise the PID the launcher recorded
        kernel_pid=int(pid) if pid else kernel.pid,
        execution_count=cell.execution_count,
        status=cell.status,
        output=cell.result,
        error=f"{cell.ename}: {cell.evalue}" if cell.ename else None,
        elapsed_ms=cell.elapsed_ms,
    )


@timed
def run(kernel_name: str = "python3", timeout: float = 30.0) -> StateResult:
    """Run the lesson on a fresh kernel of its own (it restarts it)."""
    with started([kernel_name]) as (kernel,):
        result = StateResult(kernel=kernel_name, connection_file=kernel.connection_file)
        steps = result.steps
        steps.append(_step("cell 1", "client A", kernel, CELL_1, timeout))
        steps.append(_step("cell 2", "client A", kernel, CELL_2, timeout))
        try:
            with attached(kernel.connection_file) as second:
                steps.append(_step("peek", "client B", second, PEEK, timeout))
        except KernelFault:
            kernel.check_alive("while client B attached")  # our kernel's death is the news, if it died
            raise
        result.pid_before_restart = steps[0].kernel_pid
        kernel.restart()
        steps.append(_step("cell 2 again", "client A", kernel, CELL_2, timeout))
        steps[-1].restarted = True
        result.pid_after_restart = steps[-1].kernel_pid
    return result
