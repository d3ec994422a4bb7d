"""`kij view` — the wire as a picture.

What the learner should feel: a log of frames becomes a conversation. Lanes for the
client, each of the five sockets and the kernel; one arrow per message, in the order
the wire carried them; a reply sits under its request and shares its colour, and
the burst on iopub plainly answers the one execute_request above it. Any capture
kij wrote (`kij frames --save`, a tap trace, the other lessons' saves) becomes one
HTML file that opens anywhere — a laptop, a notebook cell, the projector at the back
of the room — with nothing to install and no network.

Here: load and check the capture (a JSON-lines trace cut off mid-line still draws
what is whole, and says which lines it dropped), write the page (kij.views.html),
and, with --open, hand it to a desktop browser if there is one.
"""

from __future__ import annotations

import os
import sys
import webbrowser
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kij import trace
from kij.errors import UserError
from kij.kernel import timed

TAKEAWAY = (
    "Drawn as a conversation, the wire is requests and what answers them: every reply and "
    "broadcast names its request in parent_header, and that one field is how a frontend knows whose output is whose."
)
UNTIED = (
    "No message here names another message of this capture in its parent_header: what it answered "
    "happened before the capture began, or was never on these sockets."
)


@dataclass
class ViewResult:
    capture: str  # the file drawn
    page: str  # the HTML file written
    messages: int
    page_bytes: int
    channels: dict = field(default_factory=dict)  # channel → messages on it
    legs: dict = field(default_factory=dict)  # zmq / websocket → messages
    signatures: dict = field(default_factory=dict)  # valid / invalid / unsigned → messages
    marked: dict = field(default_factory=dict)  # error / forged / replayed → messages
    replies_tied: int = 0  # messages whose parent_header names a message in this capture
    dropped: list[str] = field(default_factory=list)  # lines of the trace left out, and why
    opened: bool = False  # handed to a desktop browser
    open_note: str = ""  # what happened to --open
    takeaway: str = TAKEAWAY
    elapsed_ms: float = 0.0


def default_page(capture: str | Path) -> Path:
    """Where the page goes without -o: beside the capture, its name ending .html."""
    return Path(capture).with_suffix(".html")


def check_flags(capture: str, output: str | None) -> None:
    """Refused before anything is read: a missing capture, an unwritable page, a page
    that would overwrite the capture itself."""
    p = Path(capture)
    if not p.exists():
        raise UserError(f"no such capture file: {p}")
    if p.is_dir():
        raise UserError(f"{p} is a directory, not a capture file")
    out = Path(output) if output else default_page(p)
    if out.resolve() == p.resolve():
        raise UserError(f"the page {out} would overwrite the capture itself: choose another name with -o")
    trace.check_writable(out)


def read(capture: str | Path) -> tuple[trace.Capture, list[str]]:
    """The capture and the lines dropped from it; nothing drawable is a UserError."""
    dropped: list[str] = []
    try:
        cap = trace.load(capture, dropped)
    except UserError as exc:
        if dropped:
            more = f" and {len(dropped) - 1} more line(s)" if len(dropped) > 1 else ""
            raise UserError(f"{capture}: nothing to draw — {dropped[0]}{more}") from None
        raise
    return cap, dropped


def marks(rec: trace.Record) -> list[str]:
    """What the page marks on a message (the same rules as view.js's `marks`)."""
    found = []
    if rec.msg_type == "error" or (isinstance(rec.content, dict) and rec.content.get("status") == "error"):
        found.append("error")
    note = rec.note or ""
    found += [name for prefix, name in (("forged", "forged"), ("replay", "replayed")) if note.startswith(prefix)]
    return found


def summarise(cap: trace.Capture, result: ViewResult) -> None:
    msgs = cap.messages
    ids = {r.msg_id for r in msgs if r.msg_id}
    result.channels = dict(Counter(r.channel for r in msgs))
    result.legs = dict(Counter(r.leg for r in msgs))
    verdict = {True: "valid", False: "invalid", None: "unsigned"}
    result.signatures = dict(Counter(verdict.get(r.signature_valid, "unsigned") for r in msgs))
    result.marked = dict(Counter(m for r in msgs for m in marks(r)))
    result.replies_tied = sum(1 for r in msgs
                              if r.parent_msg_id and r.parent_msg_id in ids and r.parent_msg_id != r.msg_id)


def has_desktop() -> bool:
    """A browser can open a window here: a display on Linux/BSD, or macOS / Windows."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_page(path: Path) -> tuple[bool, str]:
    """Hand the page to the desktop's browser; without a desktop, never start a text
    browser in this terminal — say where the file is instead."""
    if not has_desktop():
        return False, f"no desktop browser here (no display); open {path} in a browser"
    if webbrowser.open(path.resolve().as_uri()):
        return True, f"opened {path} in the desktop's browser"
    return False, f"no browser would open it; open {path} in a browser"


def write_page(cap: trace.Capture, path: str | Path, large: bool = False, dropped: list[str] | None = None) -> int:
    """Write the capture's page to path (also `kij frames --html`); its size in bytes."""
    from kij.views import html

    data = html.page(cap, large=large, dropped=dropped).encode("utf-8")
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc.__class__.__name__}") from None
    return len(data)


@timed
def run(capture: str, output: str | None = None, large: bool = False, open_it: bool = False) -> ViewResult:
    """Draw the capture into one HTML file (no kernel is started)."""
    cap, dropped = read(capture)
    out = Path(output) if output else default_page(capture)
    size = write_page(cap, out, large=large, dropped=dropped)
    result = ViewResult(capture=str(capture), page=str(out), messages=len(cap.messages),
                        page_bytes=size, dropped=dropped)
    summarise(cap, result)
    if not result.replies_tied:
        result.takeaway = UNTIED
    if open_it:
        result.opened, result.open_note = open_page(out)
    return result
