"""Draws `kij magics`: each cell, what the in-process shell and the kernel made of it."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kij.lessons.magics import EXTENSION, COMPARED, CellRun, MagicsResult
from kij.views.parts import ByWidth, fact_grid, heading, lines, takeaway

TABLE_MIN_WIDTH = 90


def _shown(cell: CellRun):
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


def _table(result: MagicsResult, same: dict[str, bool]) -> Table:
    """A wide terminal: one row per cell, the two shells side by side."""
    local, remote = result.shells
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("cell", style="cyan", max_width=30, overflow="fold")
    table.add_column(f"in-process\n[dim]{local.how}[/]", overflow="fold")
    table.add_column(f"{remote.where}\n[dim]{remote.how}[/]", overflow="fold")
    table.add_column("same?", justify="center")
    for a, b in zip(local.cells, remote.cells):
        verdict = ("[green]✓[/]" if same[a.label] else "[red]✗[/]") if a.label in same else ""
        table.add_row(Text(a.code), _shown(a), _shown(b), verdict)
    return table


def _blocks(result: MagicsResult, same: dict[str, bool]) -> Group:
    """A narrow terminal: one block per cell."""
    local, remote = result.shells
    blocks = []
    for a, b in zip(local.cells, remote.cells):
        rows = [(" in-process", _shown(a)), (" kernel", _shown(b))]
        if a.label in same:
            rows.append(("", Text.from_markup("[green]✓ same[/]" if same[a.label] else "[red]✗ different[/]")))
        blocks += [Text(a.code, style="cyan"), fact_grid(rows)]
    return Group(*blocks)


def render(result: MagicsResult) -> RenderableType:
    same = {c.label: c.equal for c in result.comparisons}
    parts = [heading("kij magics", "a magic is just a registered function"),
             f"[dim]the extension: {EXTENSION} (src/kij/magics.py) — @line_magic clap, @cell_magic shout[/]\n",
             ByWidth(lambda width: _table(result, same) if width >= TABLE_MIN_WIDTH else _blocks(result, same))]
    if result.all_equal:
        parts.append(f"[green]✓[/] the {len(COMPARED)} outputs that matter are equal in both shells")
    else:
        parts.append("[red]✗ the two shells disagreed[/] — see the rows marked ✗")
    if result.kernel_only_magics:
        extra = ", ".join(result.kernel_only_magics)
        parts.append(Text(f"only in the kernel: {extra} — ipykernel registers magics of its own too", style="dim"))
    return lines(parts + [takeaway(result.takeaway)])
