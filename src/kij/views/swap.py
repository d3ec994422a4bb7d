"""Draws `kij swap`: each kernel's kernel_info and snippet output, side by side."""

from __future__ import annotations

from kij.lessons.swap import Answer, SwapResult
from kij.views import console, heading, side_by_side, takeaway


def _panel(answer: Answer):
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    if answer.skipped:
        grid.add_row("skipped", Text(answer.skipped, style="yellow"))
    elif answer.error and answer.language is None:
        grid.add_row("failed", Text(answer.error, style="red"))
    else:
        grid.add_row("language", f"{answer.language} {answer.language_version or ''}")
        grid.add_row("implementation", f"{answer.implementation} {answer.implementation_version or ''}")
        grid.add_row("protocol", str(answer.protocol_version))
        grid.add_row("PID", str(answer.pid))
        banner = (answer.banner or "").splitlines()
        grid.add_row("banner", Text(banner[0] if banner else "", overflow="ellipsis", no_wrap=True))
        if answer.snippet:
            grid.add_row("snippet", Text(answer.snippet, style="cyan"))
            grid.add_row("got", Text(answer.output or "", style="bold"))
        else:
            grid.add_row("snippet", Text("(no snippet for this language: kernel_info only)", style="dim"))
        if answer.error:
            grid.add_row("error", Text(answer.error, style="red"))
        grid.add_row("timing", f"ready after {answer.boot_ms:.0f} ms, answered in {answer.run_ms:.0f} ms")
    return Panel(grid, title=f"kernel = [bold]{answer.kernel}[/]", title_align="left", expand=True)


def render(result: SwapResult) -> None:
    con = console()
    heading(con, "kij swap", "one client function, any kernel")
    side_by_side(con, [_panel(a) for a in result.answers], min_width=50)
    boots = [a.boot_ms for a in result.answers if a.boot_ms]
    if boots:
        con.print(
            f"[dim]kernels booted side by side: slowest ready after {max(boots):.0f} ms; "
            f"whole lesson {result.elapsed_ms:.0f} ms[/]"
        )
    takeaway(con, result.takeaway)
