"""Draws `kij repl-diff`: three panels — python3, IPython, the kernel — side by side,
stacked on a narrow terminal. Captured colours are rendered by rich (and so dropped
when colour is off), never printed as raw escape codes."""

from __future__ import annotations

from kij.lessons.repl_diff import Interpreter, ReplDiffResult
from kij.views import console, heading, side_by_side, takeaway

SIDE_BY_SIDE_MIN_WIDTH = 100


def _about(who: Interpreter):
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("path", Text(who.executable or "?", style="dim"))
    grid.add_row("version", who.version)
    grid.add_row("fed", who.fed)
    return grid


def _transcript(who: Interpreter):
    """What the process printed, its colours rendered by rich. Lines wrap in a narrow
    panel, except IPython's long "-----" rulers, which are cropped."""
    from rich.console import Group
    from rich.text import Text

    if not who.transcript.strip():
        return Text("(printed nothing)", style="dim italic")
    lines = []
    for raw in who.transcript_ansi.rstrip("\n").split("\n"):
        line = Text.from_ansi(raw)
        if "-" * 20 in line.plain:
            line.no_wrap, line.overflow = True, "ellipsis"
        else:
            line.overflow = "fold"
        lines.append(line)
    if who.timed_out:
        lines.append(Text("(killed: it ran past the deadline)", style="red"))
    return Group(*lines)


def _kernel_exchange(who: Interpreter):
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for cell in who.cells:
        count = f"[{cell.execution_count}]"
        grid.add_row(Text("→", style="cyan"), Text(cell.code, style="cyan"))
        if cell.stdout:
            grid.add_row(Text("← stream", style="dim"), Text(cell.stdout.rstrip()))
        if cell.result is not None:
            grid.add_row(Text(f"← {count}", style="green"), Text(f"execute_result {cell.result}", style="bold"))
        elif cell.ename:
            grid.add_row(Text(f"← {count}", style="red"),
                         Text(f"error {cell.ename}: {cell.evalue}", style="red"))
        else:
            grid.add_row(Text(f"← {count}", style="dim"), Text("execute_reply ok, no result", style="dim"))
    return grid


def _verdict(who: Interpreter) -> str:
    if who.cells:
        counts = [c.execution_count for c in who.cells]
        return f"execution_count {counts[0]}…{counts[-1]}" if len(counts) > 1 else f"execution_count {counts[0]}"
    if who.timed_out:
        return "[red]killed after the deadline[/]"
    code = who.exit_code
    return f"exit code {code}" + (" [red](died)[/]" if code else "")


def _panel(who: Interpreter):
    from rich.console import Group
    from rich.panel import Panel
    from rich.rule import Rule

    body = _kernel_exchange(who) if who.cells or not who.transcript_ansi else _transcript(who)
    return Panel(
        Group(_about(who), Rule(style="dim"), body),
        title=f"[bold]{who.name}[/]", title_align="left",
        subtitle=_verdict(who), subtitle_align="right", expand=True,
    )


def render(result: ReplDiffResult) -> None:
    from rich.syntax import Syntax

    con = console()
    heading(con, "kij repl-diff", "same bytes, three interpreters")
    con.print("[dim]the snippet:[/]")
    con.print(Syntax(result.snippet.rstrip("\n"), "python", theme="ansi_dark", line_numbers=True,
                     background_color="default"))
    con.print()
    side_by_side(con, [_panel(who) for who in result.interpreters],
                 min_width=SIDE_BY_SIDE_MIN_WIDTH // 3)
    con.print(f"[dim]all three ran at once; whole lesson {result.elapsed_ms:.0f} ms[/]")
    takeaway(con, result.takeaway)
