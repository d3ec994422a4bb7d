"""Rendering for people (rich) and for programs (JSON). Views know nothing about
where their data came from: they take a lesson's result and draw it. A view never
starts a kernel.

Also the CLI's few words of its own: the "starting …" line shown on a terminal before
the heavy imports, the boot spinner, "stopping kernels …" after Ctrl-C, error lines."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys

_starting_shown = False  # the "starting …" line is on stderr and not yet erased


def starting(command: str) -> None:
    """Something on screen at once: one line on stderr, on a terminal only, erased by
    whatever kij prints next (importing jupyter_client alone takes most of a second)."""
    global _starting_shown
    if sys.stderr.isatty():
        sys.stderr.write(f"kij {command}: starting …")
        sys.stderr.flush()
        _starting_shown = True


def erase_starting() -> None:
    global _starting_shown
    if _starting_shown:
        sys.stderr.write("\r\x1b[2K")
        sys.stderr.flush()
        _starting_shown = False


def closed_pipe() -> None:
    """stdout's reader went away: send the rest to /dev/null and end quietly (exit 0)."""
    from kij.errors import ClosedPipe

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise ClosedPipe()


class _Tidy:
    """stdout for a file or a pipe: no spaces at the ends of lines (rich pads wrapped
    lines and table rows) and never two blank lines in a row, nor one at the top.
    Invisible on a terminal, noise in a file; used only when stdout is not a terminal."""

    def __init__(self, stream):
        self.stream = stream
        self.newlines = 2  # how many newlines the output so far ends with (at most 2)

    def write(self, text: str) -> int:
        text = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", text))
        lead = len(text) - len(text.lstrip("\n"))
        text = text[max(0, lead - max(0, 2 - self.newlines)):] if lead else text
        if text.strip("\n"):
            self.newlines = min(2, len(text) - len(text.rstrip("\n")))
        else:
            self.newlines = min(2, self.newlines + len(text))
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


_tidy: _Tidy | None = None  # one for the whole run: blank lines span many prints


def _stdout():
    global _tidy
    if sys.stdout.isatty():
        return None  # rich's own choice, sys.stdout
    if _tidy is None or _tidy.stream is not sys.stdout:
        _tidy = _Tidy(sys.stdout)
    return _tidy


def console(stderr: bool = False):
    """A rich Console on stdout (or stderr). rich itself honours NO_COLOR, narrow
    terminals and output piped to a file (no colour codes, no spinner animation).
    Inside `captured()`, stdout's console is the capturing one."""
    from rich.console import Console

    erase_starting()
    if _capturing is not None and not stderr:
        return _capturing
    con = Console(stderr=stderr, highlight=False, soft_wrap=False, file=None if stderr else _stdout())
    if con.is_jupyter:
        # Inside a notebook rich would turn every print into a display of its own;
        # one ANSI-coloured text stream (which JupyterLab and nbconvert colour) reads
        # like the terminal and keeps the notebook small.
        con = Console(stderr=stderr, highlight=False, soft_wrap=False,
                      force_jupyter=False, force_terminal=True, width=110)
    con.on_broken_pipe = closed_pipe  # rich's own handler exits 1: "the kernel failed"
    return con


_capturing = None  # the Console that console() hands out inside captured()


@contextlib.contextmanager
def captured():
    """Everything the views print to stdout meanwhile, kept as text (styles included)
    instead of printed: `with captured() as page: ...`, then `page.get()`. kij tour
    pages a long lesson this way."""
    global _capturing
    con = console()
    try:
        with con.capture() as page:
            _capturing = con
            yield page
    finally:
        _capturing = None


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
    erase_starting()
    try:
        sys.stdout.write(json.dumps(facts(result), indent=2, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        closed_pipe()


def booting(names: list[str]):
    """The spinner shown while kernels boot (on stderr, so --json stays clean)."""
    label = ", ".join(names)
    return console(stderr=True).status(f"booting {label} …", spinner="dots")


@contextlib.contextmanager
def stopping(names: list[str]):
    """Said at once after Ctrl-C or SIGTERM, while kij shuts its kernels down."""
    count = f"{len(names)} kernel{'s' if len(names) != 1 else ''}"
    with contextlib.suppress(Exception):  # a word to the user must never stop the shutdown
        console(stderr=True).print(f"stopping {count} kij started ({', '.join(names)}) …",
                                   markup=False, soft_wrap=True)
    yield


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
