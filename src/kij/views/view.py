"""Draws `kij view` in the terminal: where the page is, and what it shows (counted
from the capture), so the terminal says as much as it can before the browser opens."""

from __future__ import annotations

from rich.console import RenderableType
from rich.markup import escape

from kij.lessons.view import ViewResult
from kij.views.parts import fact_grid, heading, lines, takeaway

ORDER = ["shell", "control", "stdin", "iopub", "hb"]


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{n / 1000:.0f} kB" if n >= 1000 else f"{n} bytes"


def _counts(counts: dict, order: list[str] | None = None) -> str:
    keys = [k for k in (order or []) if k in counts] + sorted(k for k in counts if k not in (order or []))
    return " · ".join(f"{k} {counts[k]}" for k in keys) or "none"


def _rows(result: ViewResult) -> list[tuple]:
    rows = [
        ("page", result.page),
        ("size", f"{_size(result.page_bytes)}, self-contained: no network request, opens from file://"),
        ("drew", f"{result.messages} messages from {result.capture}"),
        ("channels", _counts(result.channels, ORDER)),
        ("signatures", _counts(result.signatures, ["valid", "invalid", "unsigned"])),
        ("tied", f"{result.replies_tied} replies and broadcasts to the message their parent_header names"),
    ]
    if set(result.legs) - {"zmq"}:
        rows.append(("legs", _counts(result.legs, ["zmq", "websocket"])))
    if result.marked:
        rows.append(("marked", _counts(result.marked, ["error", "forged", "replayed"])))
    return rows


def render(result: ViewResult, compact: bool = False) -> RenderableType:
    parts = [heading("kij view", "the wire as a picture"), fact_grid(_rows(result))]
    if result.dropped:
        shown = result.dropped[:3] if compact else result.dropped[:20]
        more = len(result.dropped) - len(shown)
        parts.append(f"[yellow]dropped {len(result.dropped)} line(s) that could not be read, drew the rest:[/]")
        parts += [f"[yellow]  {d}[/]" for d in shown] + ([f"[yellow]  … and {more} more[/]"] if more else [])
    if result.open_note:
        parts.append(f"[dim]{escape(result.open_note)}[/]")
    elif not compact:
        parts.append("[dim]open it in a browser (or use --open): click a message to see its frames[/]")
    parts.append(takeaway(result.takeaway))
    return lines(parts)
