"""Draws `kij which`: what each kernel says about its interpreter, and the PATH trap."""

from __future__ import annotations

import shlex

from kij.lessons.which import WhichResult
from kij.views import console, heading, takeaway


def render(result: WhichResult) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    con = console()
    heading(con, "kij which", "which Python is my kernel?")

    launch = Table.grid(padding=(0, 1))
    launch.add_column(style="dim", no_wrap=True)
    launch.add_column(overflow="fold")
    launch.add_row("kernelspec", Text(f"{result.kernel}  ({result.spec_dir})"))
    launch.add_row("its argv", Text(shlex.join(result.spec_argv), style="cyan"))
    launch.add_row("launched as", Text(shlex.join(result.launched_argv), style="cyan"))
    launch.add_row("kij itself", Text(f"{result.kij_executable}  (sys.prefix {result.kij_prefix})"))
    con.print(launch)
    if result.spec_argv[:1] == ["python"] and result.launched_argv[:1] != ["python"]:
        con.print(Text("jupyter_client swapped the spec's bare `python` for its own sys.executable: "
                       "the kernel's interpreter was fixed at launch, PATH had no say.", style="dim"))
    con.print()

    a, b = result.kernels
    rows = [
        ("first on PATH", a.path_first, b.path_first, False),
        ("sys.executable", a.executable, b.executable, True),
        ("sys.prefix", a.prefix, b.prefix, False),
        ("!which python3", a.which_python3, b.which_python3, True),
        ("!python3 --version", a.python3_says, b.python3_says, False),
    ]
    if con.width >= 90:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("asked inside the kernel", style="dim", no_wrap=True)
        table.add_column(f"kernel 1 — {a.label}\n[dim]PID {a.pid}[/]", overflow="fold", ratio=1)
        table.add_column(f"kernel 2 — {b.label}\n[dim]PID {b.pid}[/]", overflow="fold", ratio=1)
        for name, x, y, key in rows:
            style = "bold" if key else ""
            table.add_row(name, Text(str(x), style=style), Text(str(y), style=style))
        con.print(table)
    else:
        for label, asked, col in ((a.label, a, 1), (b.label, b, 2)):
            con.print(f"[bold]kernel {col} — {label}[/] [dim](PID {asked.pid})[/]")
            grid = Table.grid(padding=(0, 1))
            grid.add_column(style="dim", no_wrap=True)
            grid.add_column(overflow="fold")
            for name, x, y, key in rows:
                grid.add_row(" " + name, Text(str(x if col == 1 else y), style="bold" if key else ""))
            con.print(grid)

    same = "[green]unchanged[/]" if result.executable_unchanged else "[red]changed[/]"
    moved = "[yellow]moved[/]" if result.which_moved else "[dim]did not move[/]"
    con.print(f"\nsys.executable {same}; `which python3` {moved}")
    if result.decoy_removed:
        con.print(f"[dim]the decoy {result.decoy.program} has been removed again[/]")
    takeaway(con, result.takeaway)
    con.print(Text.assemble(("Rule: ", "bold"), result.rule))
