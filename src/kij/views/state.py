"""Draws `kij state`: which client ran what, in which process, with which result."""

from __future__ import annotations

from rich import box
from rich.console import RenderableType
from rich.table import Table

from kij.lessons.state import StateResult
from kij.views.parts import ByWidth, heading, lines, takeaway

TABLE_MIN_WIDTH = 70  # below this, one short block per step instead of a table


def _shown(step) -> str:
    if step.error:
        return f"[red]{step.error}[/]"
    if step.output is not None:
        return f"[bold]{step.output}[/]"
    return "[dim](no output)[/]"


def _table(result: StateResult) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("step", no_wrap=True)
    table.add_column("client", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("count", justify="right")
    table.add_column("PID", justify="right")
    table.add_column("result", min_width=12)
    for step in result.steps:
        if step.restarted:
            table.add_section()
            table.add_row(
                "[yellow]restart[/]", "", "[yellow]new process[/]", "",
                f"[yellow]{result.pid_after_restart}[/]", "[yellow]empty namespace[/]",
            )
            table.add_section()
        table.add_row(step.label, step.client, step.code, str(step.execution_count),
                      str(step.kernel_pid), _shown(step))
    return table


def _blocks(result: StateResult) -> RenderableType:
    """A narrow terminal: one short block per step instead of a table."""
    parts = []
    for step in result.steps:
        if step.restarted:
            parts.append(f"[yellow]restart → new process, PID {result.pid_after_restart}[/]")
        parts.append(f"[bold]{step.label}[/] · {step.client} · count {step.execution_count} · PID {step.kernel_pid}")
        parts.append(f"  {step.code}\n  → {_shown(step)}")
    return lines(parts)


def render(result: StateResult) -> RenderableType:
    sessions = {step.client: step.session[:8] for step in result.steps}
    return lines([
        heading("kij state", "state lives in the kernel, not in the cells"),
        f"[dim]{result.kernel} kernel, PID {result.pid_before_restart}\n"
        f"connection file {result.connection_file}[/]\n",
        ByWidth(lambda width: _table(result) if width >= TABLE_MIN_WIDTH else _blocks(result)),
        "[dim]count is the kernel's execution_count. "
        + " and ".join(f"{c} (session {s}…)" for c, s in sessions.items())
        + " are two independent clients; B attached through the connection file.[/]",
        takeaway(result.takeaway),
    ])
