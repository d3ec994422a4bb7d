"""Draws `kij comms`: per step, its messages as `kij frames` draws them, and its verdict.

`render(result)` returns a rich renderable and prints nothing. The lines come from
kij.views.frames itself (`_timeline`, `_frames`, `_outcome`): those draw on a console,
so `_Collected` stands in for one and keeps what they print as renderables, laid out
at whatever width the renderable is finally drawn. Everything off the wire is rich
Text, never markup.
"""

from __future__ import annotations

import json

from rich.console import Group
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from kij.trace import Act, Capture, Record
from kij.views import frames as frames_view

# The state keys of the IntSlider worth a learner's look (the rest are styling defaults).
STATE_KEYS = ("_model_name", "_view_name", "_model_module", "value", "min", "max", "step",
              "description", "continuous_update", "layout", "style")


class _Collected:
    """A stand-in for the console kij.views.frames' line functions print on."""

    def __init__(self, width: int):
        self.width = width
        self.parts: list = []

    def print(self, renderable="", *, no_wrap: bool | None = None, overflow: str | None = None, **_) -> None:
        if isinstance(renderable, str):
            renderable = Text(renderable)
        if isinstance(renderable, Text):
            renderable = renderable.copy()
            if no_wrap is not None:
                renderable.no_wrap = no_wrap
            if overflow is not None:
                renderable.overflow = overflow
        self.parts.append(renderable)


class _Drawn:
    """A renderable drawn by one of kij.views.frames' functions at the final width."""

    def __init__(self, draw):
        self.draw = draw  # draw(console-like) → None

    def __rich_console__(self, console, options):
        lines = _Collected(options.max_width)
        self.draw(lines)
        yield from lines.parts


def _comm(comm_id: str) -> str:
    return f"comm {comm_id[:8]}…" if comm_id else "comm ?"


def gist(rec: Record) -> str:
    """What a comm message says, in a few words; other messages as `kij frames` says them."""
    c = rec.content or {}
    data = c.get("data") if isinstance(c.get("data"), dict) else {}
    if rec.msg_type == "comm_open":
        model = (data.get("state") or {}).get("_model_name")
        return " · ".join(x for x in (model, c.get("target_name"), _comm(c.get("comm_id", ""))) if x)
    if rec.msg_type == "comm_msg":
        if data.get("method") == "update_states":
            return f"update_states · {len(data.get('states') or {})} models"
        if "state" in data:
            return f"{data.get('method')} {frames_view._short(json.dumps(data['state']), 24)}"
        if "method" in data:
            return data["method"]
        return frames_view._short(json.dumps(data, ensure_ascii=False), 40)
    if rec.msg_type == "comm_close":
        return _comm(c.get("comm_id", ""))
    if rec.msg_type == "comm_info_request":
        return f"target {c['target_name']!r}" if c.get("target_name") else "every target"
    if rec.msg_type == "comm_info_reply":
        comms = c.get("comms") or {}
        return f"{len(comms)} open" + "".join(f" · {cid[:8]}…" for cid in comms)
    return frames_view.summary(rec)


def _timeline(con, records: list[Record], ids: dict[str, int]) -> None:
    """kij.views.frames._timeline's line format, with comm messages summarised (gist)."""
    t0 = records[0].t_ms
    narrow = con.width < frames_view.NARROW
    for rec in records:
        arrow = frames_view.ARROW.get(rec.direction, "?")
        what = rec.msg_type or frames_view._unnamed(rec)
        text = gist(rec)
        if rec.msg_type == "status":
            what, text = f"status {text}", ""
        link = f"↳#{ids[rec.parent_msg_id]} " if rec.parent_msg_id in ids else ""
        bad = "✗ bad signature " if rec.signature_valid is False else ""
        head = (
            (f"{frames_view._ms(rec.t_ms - t0):>6} ", "dim"),
            (f"#{rec.seq:<3}{arrow} {rec.channel:<7} ", "bold" if rec.direction == "to_kernel" else ""),
            (f"{what:<19} " if not narrow else f"{what} ", ""),
        )
        tail = ((bad, "bold red"), (link, "blue"), (text, "dim"))
        if narrow:
            frames_view._fit(con, head, tail)
        else:
            frames_view._line(con, *head, *tail)


def _ids(cap: Capture) -> dict[str, int]:
    ids: dict[str, int] = {}
    for r in cap.messages:
        if r.msg_id:
            ids.setdefault(r.msg_id, r.seq)
    return ids


def _detailed(act: Act, rec: Record) -> bool:
    """Which messages get their frames drawn: the ones a learner builds a comm from."""
    if rec.direction == "to_kernel":
        return act.name in ("comm_open", "drag") and rec.msg_type.startswith("comm_")
    return act.name == "drag" and rec.msg_type == "comm_msg"


def _state_value(value) -> str:
    """A state value as a learner reads it; a reference to another model by its short id."""
    if isinstance(value, str) and value.startswith("IPY_MODEL_"):
        return f"IPY_MODEL_{value[len('IPY_MODEL_'):][:8]}…"
    return value if isinstance(value, str) else repr(value)


def _state_table(state: dict) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, show_header=False, padding=(0, 2, 0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    for key in STATE_KEYS:
        if key in state:
            table.add_row(Text(key), Text(_state_value(state[key])))
    return table


def _intro(result) -> list:
    k = result.capture.kernel
    parts = [Text.assemble(("kij comms", "bold"), " — comms, and the widgets that ride on them")]
    if k is not None:
        parts.append(Text(f"{k.name} kernel · {k.implementation} {k.implementation_version} · "
                          f"protocol {k.protocol_version}" + (f" · PID {k.pid}" if k.pid else "")))
    sent = [r for r in result.capture.messages if r.direction == "to_kernel"]
    good = [r for r in result.capture.messages if r.signature_valid is True]
    parts.append(Text(
        f"kij built and signed the {len(sent)} messages it sent (→) itself, on its own sockets; it "
        f"recomputed the signature of all {len(result.capture.messages)} messages with the connection key: "
        f"{len(good)} matched" + ("" if len(good) == len(result.capture.messages) else " (✗ marks the others)")
        + ". Comm ids are shown by their first 8 characters.", style="dim"))
    return parts


def _act(number: int, act: Act, result, ids: dict[str, int]) -> list:
    cap = result.capture
    records = [r for r in cap.messages if r.act == act.name]
    parts: list = [Text(), Rule(Text(f"{number} · {act.title}", style="bold"), align="left")]
    if records:
        parts.append(_Drawn(lambda con: _timeline(con, records, ids)))
    detailed = [r for r in records if _detailed(act, r)]
    t0 = records[0].t_ms if records else 0.0
    for rec in detailed:
        parts.append(_Drawn(lambda con, rec=rec: frames_view._frames(con, rec, ids, t0)))
    if act.name == "widget" and result.slider_state:
        parts.append(Text("the IntSlider's comm_open carries its state (some of it):", style="dim"))
        parts.append(_state_table(result.slider_state))
    if act.outcome:
        parts.append(_Drawn(lambda con: frames_view._outcome(con, act)))
    return parts


def render(result) -> Group:
    """The whole lesson: intro, one section per step, the takeaway."""
    cap = result.capture
    ids = _ids(cap)
    parts = _intro(result)
    for number, act in enumerate(cap.acts, 1):
        parts += _act(number, act, result, ids)
    if cap.takeaway:
        parts += [Text(), Text.assemble(("→ ", "bold green"), cap.takeaway)]
    return Group(*parts)
