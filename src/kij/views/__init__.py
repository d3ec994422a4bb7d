"""Rendering for people (rich) and for programs (JSON). Views know nothing about
where their data came from: they take a lesson's result and draw it. A view never
starts a kernel."""

from __future__ import annotations

import dataclasses
import json
import sys


def console(stderr: bool = False):
    """A rich Console on stdout (or stderr). rich itself honours NO_COLOR, narrow
    terminals and output piped to a file (no colour codes, no spinner animation)."""
    from rich.console import Console

    con = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if con.is_jupyter:
        # Inside a notebook rich would turn every print into a display of its own;
        # one ANSI-coloured text stream (which JupyterLab and nbconvert colour) reads
        # like the terminal and keeps the notebook small.
        con = Console(stderr=stderr, highlight=False, soft_wrap=False,
                      force_jupyter=False, force_terminal=True, width=110)
    return con


def facts(value):
    """A lesson's result as plain data for JSON. Like dataclasses.asdict, except that
    fields marked `metadata={"json": False}` (e.g. output with its colour codes still
    in, kept for the rich view) are left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: facts(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("json", True)
        }
    if isinstance(value, dict):
        return {k: facts(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [facts(v) for v in value]
    return value


def print_json(result) -> None:
    """One JSON document on stdout, no markup: the facts a lesson returned."""
    sys.stdout.write(json.dumps(facts(result), indent=2, ensure_ascii=False, default=str) + "\n")


def booting(names: list[str]):
    """The spinner shown while kernels boot (on stderr, so --json stays clean)."""
    label = ", ".join(names)
    return console(stderr=True).status(f"booting {label} …", spinner="dots")


def error_line(message: str) -> None:
    """A user-facing failure: one line on stderr, no traceback."""
    from rich.markup import escape

    # soft_wrap: one line however long, so scripts (and people) can grep it;
    # escape: a message quoting [brackets] is text, not markup
    console(stderr=True).print(f"[bold red]kij:[/] {escape(message)}", markup=True, highlight=False,
                               soft_wrap=True)


def side_by_side(con, panels: list, min_width: int = 32) -> None:
    """Panels in one row when each gets at least min_width columns, else stacked."""
    from rich.table import Table

    if len(panels) > 1 and con.width // len(panels) >= min_width:
        row = Table.grid(expand=True, padding=(0, 1))
        for _ in panels:
            row.add_column(ratio=1)
        row.add_row(*panels)
        con.print(row)
    else:
        for panel in panels:
            con.print(panel)


def heading(con, title: str, subtitle: str = "") -> None:
    con.print(f"[bold]{title}[/]" + (f" — {subtitle}" if subtitle else ""))


def takeaway(con, text: str) -> None:
    from rich.markup import escape

    con.print(f"\n[bold green]→[/] {escape(text)}")
