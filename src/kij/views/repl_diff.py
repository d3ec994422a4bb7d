"""Draws `kij repl-diff`: four panels — python3 as a script and python3's REPL, then
IPython and the kernel — two by two on a wide terminal, stacked on a narrow one; then what each
layer adds and what this run showed of it. Captured colours are rendered by rich (and
so dropped when colour is off), never printed as raw escape codes. Blank lines in a
transcript (IPython's spacing between prompts) are left out to keep it short."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from kij.lessons.repl_diff import Interpreter, ReplDiffResult
from kij.views.parts import fact_grid, heading, lines, side_by_side, takeaway

PANEL_MIN_WIDTH = 50  # two side by side (plain Python | IPython) from 100 columns


def _about(who: Interpreter):
    """One dim line: the version and how the snippet got in (and the kernel's path)."""
    about = Text(f"{who.version} · {who.fed}", style="dim", overflow="fold")
    if who.layer == "kernel":  # the kernel's own sys.executable; the others' is on top
        about.append(f"\n{who.executable or '?'}")
    return about


def _transcript(who: Interpreter):
    """What the process printed, its colours rendered by rich. Lines wrap in a narrow
    panel, except IPython's long "-----" rulers, which are cropped."""
    if not who.transcript.strip():
        return Text("(printed nothing)", style="dim italic")
    lines = []
    for raw in who.transcript_ansi.rstrip("\n").split("\n"):
        line = Text.from_ansi(raw)
        if not line.plain.strip():
            continue
        if "-" * 20 in line.plain:
            line.no_wrap, line.overflow = True, "ellipsis"
        else:
            line.overflow = "fold"
        lines.append(line)
    if who.timed_out:
        lines.append(Text("(killed: it ran past the deadline)", style="red"))
    return Group(*lines)


def _kernel_exchange(who: Interpreter):
    """Each cell sent (→) and what came back (←): stream, result, or error."""
    rows = []
    for cell in who.cells:
        count = f"[{cell.execution_count}]"
        rows.append((Text("→", style="cyan"), Text(cell.code, style="cyan")))
        if cell.stdout:
            rows.append((Text("← stream", style="dim"), Text(cell.stdout.rstrip())))
        if cell.result is not None:
            rows.append((Text(f"← {count}", style="green"), Text(f"execute_result {cell.result}", style="bold")))
        elif cell.ename:
            rows.append((Text(f"← {count}", style="red"), Text(f"error {cell.ename}: {cell.evalue}", style="red")))
        else:
            rows.append((Text(f"← {count}", style="dim"), Text("execute_reply ok, no result", style="dim")))
    return fact_grid(rows, key_style="")


def _verdict(who: Interpreter) -> str:
    if who.cells:
        counts = [c.execution_count for c in who.cells]
        return f"execution_count {counts[0]}…{counts[-1]}" if len(counts) > 1 else f"execution_count {counts[0]}"
    if who.timed_out:
        return "[red]killed after the deadline[/]"
    code = who.exit_code
    return f"exit code {code}" + (" [red](died)[/]" if code else "")


def _panel(who: Interpreter):
    body = _kernel_exchange(who) if who.cells or not who.transcript_ansi else _transcript(who)
    return Panel(
        Group(_about(who), body),
        title=f"[bold]{escape(who.name)}[/]", title_align="left",
        subtitle=_verdict(who), subtitle_align="right", expand=True,
    )


def _layers(result: ReplDiffResult):
    """What each layer adds (in general), and what this run showed of it."""
    names = {who.layer: who.name for who in result.interpreters}
    rows = []
    for note in result.notes:
        body = Text()
        body.append("adds ", style="dim")
        body.append(note.adds)
        body.append("\nseen ", style="dim")
        body.append(note.seen)
        rows.append((names.get(note.layer, note.layer).split(" (")[0], body))
    return fact_grid(rows, key_style="bold")


def render(result: ReplDiffResult) -> RenderableType:
    count = len(result.interpreters)
    parts = [heading("kij repl-diff", f"one snippet, {count} interpreters"), "[dim]the snippet:[/]",
             Syntax(result.snippet.rstrip("\n"), "python", theme="ansi_dark", line_numbers=True,
                    background_color="default")]
    python = next((who.executable for who in result.interpreters if who.layer == "script"), "")
    if python:
        parts.append(f"[dim]python3 below is {escape(python)}[/]")
    parts.append(Text())
    panels = [_panel(who) for who in result.interpreters]
    for pair in (panels[:2], panels[2:]):  # python3 -, python3 -i | IPython, the kernel
        parts.append(side_by_side(pair, min_width=PANEL_MIN_WIDTH))
    parts += [f"[dim]all {count} ran at once; whole lesson {result.elapsed_ms:.0f} ms[/]",
              "\n[bold]what each layer adds[/] [dim](seen: this run's capture)[/]", _layers(result)]
    if result.stdin_note:
        parts.append(f"\n[dim]why on one line?[/] {escape(result.stdin_note)}")
    return lines(parts + [takeaway(result.takeaway)])
