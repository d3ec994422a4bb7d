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

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def print_json(result) -> None:
    """One JSON document on stdout, no markup: the facts a lesson returned."""
    data = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def booting(names: list[str]):
    """The spinner shown while kernels boot (on stderr, so --json stays clean)."""
    label = ", ".join(names)
    return console(stderr=True).status(f"booting {label} …", spinner="dots")


def error_line(message: str) -> None:
    """A user-facing failure: one line on stderr, no traceback."""
    # soft_wrap: one line however long, so scripts (and people) can grep it
    console(stderr=True).print(f"[bold red]kij:[/] {message}", markup=True, highlight=False, soft_wrap=True)


def heading(con, title: str, subtitle: str = "") -> None:
    con.print(f"[bold]{title}[/]" + (f" — {subtitle}" if subtitle else ""))


def takeaway(con, text: str) -> None:
    con.print(f"\n[bold green]→[/] {text}")
