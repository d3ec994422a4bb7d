"""Draws `kij magics`: each cell, what the in-process shell and the kernel made of it."""

from __future__ import annotations

from kij.lessons.magics import EXTENSION, COMPARED, CellRun, MagicsResult
from kij.views import console, heading, takeaway

TABLE_MIN_WIDTH = 90


def _shown(cell: CellRun):
    from rich.text import Text

    if cell.error:
        return Text(cell.error, style="red")
    if cell.clap_listed is not None:
        def mark(listed: bool) -> str:
            return "[green]✓[/]" if listed else "[yellow]✗[/]"

        return Text.from_markup(
            f"{mark(cell.clap_listed)} %clap  {mark(cell.shout_listed)} %%shout  "
            f"[dim]({len(cell.line_magics)} line, {len(cell.cell_magics)} cell magics)[/]"
        )
    if not cell.output:
        return Text("(no output)", style="dim")
    return Text(cell.output, style="bold")


def render(result: MagicsResult) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    con = console()
    heading(con, "kij magics", "a magic is just a registered function")
    local, remote = result.shells
    con.print(f"[dim]the extension: {EXTENSION} (src/kij/magics.py) — @line_magic clap, @cell_magic shout[/]\n")
    same = {c.label: c.equal for c in result.comparisons}
    rows = list(zip(local.cells, remote.cells))
    if con.width >= TABLE_MIN_WIDTH:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("cell", style="cyan", max_width=30, overflow="fold")
        table.add_column(f"in-process\n[dim]{local.how}[/]", overflow="fold")
        table.add_column(f"{remote.where}\n[dim]{remote.how}[/]", overflow="fold")
        table.add_column("same?", justify="center")
        for a, b in rows:
            verdict = ("[green]✓[/]" if same[a.label] else "[red]✗[/]") if a.label in same else ""
            table.add_row(Text(a.code), _shown(a), _shown(b), verdict)
        con.print(table)
    else:  # narrow: one block per cell
        for a, b in rows:
            con.print(Text(a.code, style="cyan"))
            grid = Table.grid(padding=(0, 1))
            grid.add_column(style="dim", no_wrap=True)
            grid.add_column(overflow="fold")
            grid.add_row(" in-process", _shown(a))
            grid.add_row(" kernel", _shown(b))
            if a.label in same:
                grid.add_row("", "[green]✓ same[/]" if same[a.label] else "[red]✗ different[/]")
            con.print(grid)
    if result.all_equal:
        con.print(f"[green]✓[/] the {len(COMPARED)} outputs that matter are equal in both shells")
    else:
        con.print("[red]✗ the two shells disagreed[/] — see the rows marked ✗")
    if result.kernel_only_magics:
        extra = ", ".join(result.kernel_only_magics)
        con.print(Text(f"only in the kernel: {extra} — ipykernel registers magics of its own too",
                       style="dim"))
    takeaway(con, result.takeaway)
