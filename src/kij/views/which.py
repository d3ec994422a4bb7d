"""Draws `kij which`: what each kernel says about its interpreter, and the PATH trap."""

from __future__ import annotations

import shlex

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kij.lessons.which import WhichResult
from kij.views.parts import ByWidth, blank, fact_grid, heading, lines, takeaway

TABLE_MIN_WIDTH = 90  # below this, one block per kernel instead of two columns


def _launch(result: WhichResult) -> list:
    """How the kernel was launched: its kernelspec, the argv jupyter_client ran."""
    parts: list = [fact_grid([
        ("kernelspec", f"{result.kernel}  ({result.spec_dir})"),
        ("its argv", Text(shlex.join(result.spec_argv), style="cyan")),
        ("launched as", Text(shlex.join(result.launched_argv), style="cyan")),
        ("kij itself", f"{result.kij_executable}  (sys.prefix {result.kij_prefix})"),
    ])]
    if result.spec_argv[:1] == ["python"] and result.launched_argv[:1] != ["python"]:
        parts.append(Text("jupyter_client swapped the spec's bare `python` for its own sys.executable: "
                          "the kernel's interpreter was fixed at launch, PATH had no say.", style="dim"))
    return parts


def _asked(result: WhichResult, width: int) -> RenderableType:
    """What each kernel answered: two columns on a wide terminal, two blocks on a narrow one."""
    a, b = result.kernels
    rows = [
        ("first on PATH", a.path_first, b.path_first, False),
        ("sys.executable", a.executable, b.executable, True),
        ("sys.prefix", a.prefix, b.prefix, False),
        ("!which python3", a.which_python3, b.which_python3, True),
        ("!python3 --version", a.python3_says, b.python3_says, False),
    ]
    if width >= TABLE_MIN_WIDTH:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("asked inside the kernel", style="dim", no_wrap=True)
        table.add_column(f"kernel 1 — {a.label}\n[dim]PID {a.pid}[/]", overflow="fold", ratio=1)
        table.add_column(f"kernel 2 — {b.label}\n[dim]PID {b.pid}[/]", overflow="fold", ratio=1)
        for name, x, y, key in rows:
            style = "bold" if key else ""
            table.add_row(name, Text(str(x), style=style), Text(str(y), style=style))
        return table
    blocks = []
    for label, asked, col in ((a.label, a, 1), (b.label, b, 2)):
        blocks.append(Text.from_markup(f"[bold]kernel {col} — {label}[/] [dim](PID {asked.pid})[/]"))
        blocks.append(fact_grid([(name, Text(str(x if col == 1 else y), style="bold" if key else ""))
                                 for name, x, y, key in rows], indent=" "))
    return Group(*blocks)


def render(result: WhichResult) -> RenderableType:
    same = "[green]unchanged[/]" if result.executable_unchanged else "[red]changed[/]"
    moved = "[yellow]moved[/]" if result.which_moved else "[dim]did not move[/]"
    parts = [heading("kij which", "which Python is my kernel?"), *_launch(result), blank(),
             ByWidth(lambda width: _asked(result, width)),
             f"\nsys.executable {same}; `which python3` {moved}"]
    if result.decoy_removed:
        parts.append(f"[dim]the decoy {result.decoy.program} has been removed again[/]")
    return lines(parts + [takeaway(result.takeaway), Text.assemble(("Rule: ", "bold"), result.rule)])
