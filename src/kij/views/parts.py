"""The parts every view is built from: a heading, a takeaway, the arrow glyphs, the
two-column fact grid, panels side by side, a line cut with … rather than wrapped,
and the timeline line of one message (`kij frames` and `kij tap --follow` draw the
same one). Each function returns a rich renderable; none prints.

A view that lays itself out by the terminal's width (a table on a wide one, blocks on
a narrow one) is a `ByWidth`: rich tells it the width when it is drawn, so the view
never asks a console.
"""

from __future__ import annotations

import json
from typing import Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

ARROW = {"to_kernel": "→", "from_kernel": "←"}  # a message's direction, seen from the kernel
CHECK = {True: ("✓", "green"), False: ("✗", "red")}  # a verdict's mark and its colour


class ByWidth:
    """A renderable laid out for the width rich draws it at: `draw(width)` returns it."""

    def __init__(self, draw: Callable[[int], RenderableType]):
        self.draw = draw

    def __rich_console__(self, console, options):
        yield self.draw(options.max_width)


def lines(parts: list) -> Group:
    """Renderables one under the other; a str is rich markup (kij's own words only)."""
    return Group(*(Text.from_markup(p) if isinstance(p, str) else p for p in parts))


def blank() -> Text:
    """An empty line."""
    return Text()


def heading(title: str, subtitle: str = "") -> Text:
    """A lesson's first line: its command in bold, what it shows after a dash."""
    return Text.assemble((title, "bold"), f" — {subtitle}" if subtitle else "")


def takeaway(text: str) -> Text:
    """A lesson's last line, after a blank one: the sentence to remember."""
    return Text.assemble("\n", ("→", "bold green"), " ", text)


def plain_table() -> Table:
    """A table with a header row and no borders: columns apart by two spaces."""
    return Table(box=None, pad_edge=False, show_edge=False, padding=(0, 2, 0, 0))


def fact_grid(rows: list[tuple], key_style: str = "dim", indent: str = "", fold: bool = True) -> Table:
    """Two columns, no borders: a short name (never wrapped) and its value (folded,
    or left to the value's own Text when fold is False). A value that is a str is text,
    never markup."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style=key_style, no_wrap=True)
    grid.add_column(overflow="fold") if fold else grid.add_column()
    for name, value in rows:
        grid.add_row(Text(indent + name) if isinstance(name, str) else name,
                     Text(value) if isinstance(value, str) else value)
    return grid


def side_by_side(panels: list, min_width: int = 32) -> ByWidth:
    """Panels in one row when each gets at least min_width columns, else stacked."""

    def draw(width: int) -> RenderableType:
        if len(panels) > 1 and width // len(panels) >= min_width:
            row = Table.grid(expand=True, padding=(0, 1))
            for _ in panels:
                row.add_column(ratio=1)
            row.add_row(*panels)
            return row
        return Group(*panels)

    return ByWidth(draw)


def wrap_at_spaces(text: Text, width: int) -> Text:
    """text wrapped at plain spaces only, so a no-break space keeps its two words on
    one line (rich itself would break at any whitespace, no-break spaces included)."""
    import textwrap

    pieces, at = [], 0
    for row in textwrap.wrap(text.plain, width, break_long_words=False, break_on_hyphens=False):
        start = text.plain.index(row, at)
        pieces.append(text[start:start + len(row)])
        at = start + len(row)
    return Text("\n").join(pieces)


def line(*parts) -> Text:
    """One line that is cut with … rather than wrapped when the terminal is narrow."""
    return Text.assemble(*parts, no_wrap=True, overflow="ellipsis")


def fit(width: int, head: tuple, tail: tuple, indent: int = 7) -> list[Text]:
    """head and tail on one line if they fit in width; otherwise tail on an indented line below."""
    if Text.assemble(*head, *tail).cell_len <= width:
        return [line(*head, *tail)]
    below = [line((" " * indent, ""), *tail)] if Text.assemble(*tail).plain.strip() else []
    return [line(*head)] + below


# --- one message in a few words: the timeline line ----------------------------------


def short_id(msg_id: str) -> str:
    """Head and tail of a msg_id (ipykernel's ids share a long prefix; the tail differs)."""
    return msg_id if len(msg_id) <= 16 else f"{msg_id[:8]}…{msg_id[-6:]}"


def _short(text: str, n: int = 40) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= n else text[: n - 1] + "…"


def unnamed(rec) -> str:
    """What to call frames with no msg_type: a heartbeat, an iopub subscription, junk."""
    if rec.channel == "hb":
        return "ping" if rec.direction == "to_kernel" else "echo"
    if rec.channel == "iopub" and rec.direction == "to_kernel" and (rec.note or "").startswith(("subscribe", "unsubscribe")):
        return rec.note.split(" ", 1)[0]
    return "(not a message)"


SUMMARIES = {  # msg_type → what its content says, in a few words
    "status": lambda c: c.get("execution_state", ""),
    "stream": lambda c: f"{c.get('name')}: {_short(c.get('text', ''))}",
    "execute_input": lambda c: _short(c.get("code", "")),
    "execute_request": lambda c: _short(c.get("code", "")),
    "execute_result": lambda c: f"Out[{c.get('execution_count')}]: {_short(c.get('data', {}).get('text/plain', ''))}",
    "execute_reply": lambda c: f"{c.get('status')}, execution_count {c.get('execution_count')}",
    "error": lambda c: f"{c.get('ename')}: {_short(c.get('evalue', ''))}",
    "input_request": lambda c: f"prompt {c.get('prompt')!r}",
    "input_reply": lambda c: f"value {c.get('value')!r}",
    "kernel_info_reply": lambda c: f"{c.get('implementation')} {c.get('implementation_version')}",
    "iopub_welcome": lambda c: f"welcomes the subscription {c.get('subscription', '')!r}",
    "debug_request": lambda c: f"{c.get('command')} (seq {c.get('seq')})",
    "debug_reply": lambda c: f"{c.get('command')}: {'success' if c.get('success') else 'failed'}",
    "debug_event": lambda c: str(c.get("event", "")),
    "create_subshell_reply": lambda c: f"subshell_id {short_id(c.get('subshell_id', ''))}",
    "delete_subshell_request": lambda c: f"subshell_id {short_id(c.get('subshell_id', ''))}",
    "list_subshell_reply": lambda c: "[" + ", ".join(short_id(i) for i in c.get("subshell_id", [])) + "]",
    "comm_open": lambda c: _comm_open(c),
    "comm_msg": lambda c: _comm_msg(c.get("data") if isinstance(c.get("data"), dict) else {}),
    "comm_close": lambda c: _comm(c.get("comm_id", "")),
    "comm_info_request": lambda c: f"target {c['target_name']!r}" if c.get("target_name") else "every target",
    "comm_info_reply": lambda c: f"{len(c.get('comms') or {})} open" + "".join(
        f" · {_comm(cid)}" for cid in c.get("comms") or {}),
}


def _comm(comm_id: str) -> str:
    """A comm by the first 8 characters of its id (kij comms' intro says so)."""
    return f"comm {comm_id[:8]}…" if comm_id else "comm ?"


def _comm_open(c: dict) -> str:
    """A comm_open: the widget model it carries (if any), its target, the comm."""
    model = ((c.get("data") or {}).get("state") or {}).get("_model_name")
    return " · ".join(x for x in (model, c.get("target_name"), _comm(c.get("comm_id", ""))) if x)


def _comm_msg(data: dict) -> str:
    """A comm_msg: a widget method and its state, or the data itself."""
    if data.get("method") == "update_states":
        return f"update_states · {len(data.get('states') or {})} models"
    if "state" in data:
        return f"{data.get('method')} {_short(json.dumps(data['state']), 24)}"
    if "method" in data:
        return data["method"]
    return _short(json.dumps(data, ensure_ascii=False), 40)


def summary(rec) -> str:
    """What a message says, in a few words."""
    if rec.channel == "hb":
        payload = rec.frames[0] if rec.frames else None
        if payload is None:
            return "(no frames)"
        return f"{payload.length} B: " + (_short(payload.text) if payload.text is not None else "0x" + (payload.hex or ""))
    content = rec.content or {}
    say = SUMMARIES.get(rec.msg_type)
    gist = say(content) if say else ""
    if not gist and (rec.msg_type or "").endswith("_reply") and "status" in content:
        gist = str(content["status"])  # e.g. interrupt_reply: ok
    subshell = (getattr(rec, "header", None) or {}).get("subshell_id")
    return f"{gist} · subshell_id {short_id(subshell)}" if subshell else gist


def named(rec) -> tuple[str, str]:
    """A message's name and gist for its timeline line (a status is named by its state)."""
    what, gist = rec.msg_type or unnamed(rec), summary(rec)
    if rec.msg_type == "status":
        return f"status {gist}", ""
    return what, gist


def timeline_head(when: str, rec, seq_width: int = 3) -> tuple:
    """The start of a message's timeline line: its time, #, direction and channel;
    bold when it went to the kernel."""
    arrow = ARROW.get(rec.direction, "?")
    channel = f"ws·{rec.channel}" if getattr(rec, "leg", "zmq") == "websocket" else rec.channel  # kij server
    return ((when, "dim"),
            (f"#{rec.seq:<{seq_width}}{arrow} {channel:<7} ", "bold" if rec.direction == "to_kernel" else ""))


def parent_link(rec, ids: dict[str, int], unseen: bool = False) -> str:
    """↳#n when the message answers one seen as #n; ↳ and a short id when `unseen` says
    to show a parent the timeline does not hold; else nothing."""
    if rec.parent_msg_id in ids:
        return f"↳#{ids[rec.parent_msg_id]} "
    return f"↳{short_id(rec.parent_msg_id)} " if unseen and rec.parent_msg_id else ""
