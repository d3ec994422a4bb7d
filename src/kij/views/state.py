"""Draws `kij state`: which client ran what, in which process, with which result."""

from __future__ import annotations

from kij.lessons.state import StateResult
from kij.views import console, heading, takeaway


def _shown(step) -> str:
    if step.error:
        return f"[red]{step.error}[/]"
    if step.output is not None:
        return f"[bold]{step.output}[/]"
    return "[dim](no output)[/]"


def render(result: StateResult) -> None:
    from rich import box
    from rich.table import Table

    con = console()
    heading(con, "kij state", "state lives in the kernel, not in the cells")
    con.print(
        f"[dim]{result.kernel} kernel, PID {result.pid_before_restart}\n"
        f"connection file {result.connection_file}[/]\n"
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("step", no_wrap=True)
    table.add_column("client", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("count", justify="right")
    table.add_column("PID", justify="right")
    table.add_column("result", min_width=12)
    for step in result.steps:
        if step.label == "cell 2 again":
            table.add_section()
            table.add_row(
                "[yellow]restart[/]", "", "[yellow]new process[/]", "",
                f"[yellow]{result.pid_after_restart}[/]", "[yellow]empty namespace[/]",
            )
            table.add_section()
        table.add_row(step.label, step.client, step.code, str(step.execution_count),
                      str(step.kernel_pid), _shown(step))
    if con.width >= 70:
        con.print(table)
    else:  # a narrow terminal: one short block per step instead of a table
        for step in result.steps:
            if step.label == "cell 2 again":
                con.print(f"[yellow]restart → new process, PID {result.pid_after_restart}[/]")
            con.print(f"[bold]{step.label}[/] · {step.client} · count {step.execution_count} · PID {step.kernel_pid}")
            con.print(f"  {step.code}\n  → {_shown(step)}")
    sessions = {step.client: step.session[:8] for step in result.steps}
    con.print(
        "[dim]count is the kernel's execution_count. "
        + " and ".join(f"{c} (session {s}…)" for c, s in sessions.items())
        + " are two independent clients; B attached through the connection file.[/]"
    )
    takeaway(con, result.takeaway)
