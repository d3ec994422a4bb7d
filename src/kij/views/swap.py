"""Draws `kij swap`: each kernel's kernel_info and snippet output, side by side."""

from __future__ import annotations

from rich.console import RenderableType
from rich.panel import Panel
from rich.text import Text

from kij.lessons.swap import Answer, SwapResult
from kij.views.parts import fact_grid, heading, lines, side_by_side, takeaway


def _facts(answer: Answer) -> list[tuple]:
    """What the kernel said of itself (kernel_info_reply) and what the snippet got."""
    banner = (answer.banner or "").splitlines()
    rows = [
        ("language", f"{answer.language} {answer.language_version or ''}"),
        ("implementation", f"{answer.implementation} {answer.implementation_version or ''}"),
        ("protocol", str(answer.protocol_version)),
        ("PID", str(answer.pid)),
        ("banner", Text(banner[0] if banner else "", overflow="ellipsis", no_wrap=True)),
    ]
    if answer.snippet:
        rows += [("snippet", Text(answer.snippet, style="cyan")), ("got", Text(answer.output or "", style="bold"))]
    else:
        rows.append(("snippet", Text("(no snippet for this language: kernel_info only)", style="dim")))
    if answer.error:
        rows.append(("error", Text(answer.error, style="red")))
    rows.append(("timing", f"ready after {answer.boot_ms:.0f} ms, answered in {answer.run_ms:.0f} ms"))
    return rows


def _panel(answer: Answer) -> Panel:
    if answer.skipped:
        rows = [("skipped", Text(answer.skipped, style="yellow"))]
    elif answer.error and answer.language is None:
        rows = [("failed", Text(answer.error, style="red"))]
    else:
        rows = _facts(answer)
    return Panel(fact_grid(rows, fold=False), title=f"kernel = [bold]{answer.kernel}[/]", title_align="left",
                 expand=True)


def render(result: SwapResult) -> RenderableType:
    parts = [heading("kij swap", "one client function, any kernel"),
             side_by_side([_panel(a) for a in result.answers], min_width=50)]
    boots = [a.boot_ms for a in result.answers if a.boot_ms]
    if boots:
        parts.append(f"[dim]kernels booted side by side: slowest ready after {max(boots):.0f} ms; "
                     f"whole lesson {result.elapsed_ms:.0f} ms[/]")
    return lines(parts + [takeaway(result.takeaway)])
