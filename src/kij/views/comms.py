"""Draws `kij comms`: per step, its messages as `kij frames` draws them, and its verdict.

`render(result)` returns a rich renderable and prints nothing. The timeline lines, a
message's frames and a step's verdict are kij.views.frames' own (`timeline`,
`message_frames`, `outcome`); a comm message's gist is kij.views.parts' `summary`.
Only what is particular to comms lives here: which messages get their frames drawn,
and the IntSlider's state. Everything off the wire is rich Text, never markup.
"""

from __future__ import annotations

from rich.console import Group
from rich.rule import Rule
from rich.text import Text

from kij.lessons.comms import CommsResult
from kij.trace import Act, Capture
from kij.views import frames as frames_view
from kij.views.parts import ByWidth, blank, fact_grid, heading, takeaway

# The state keys of the IntSlider worth a learner's look (the rest are styling defaults).
STATE_KEYS = ("_model_name", "_view_name", "_model_module", "value", "min", "max", "step",
              "description", "continuous_update", "layout", "style")


def _detailed(act: Act, rec) -> bool:
    """Which messages get their frames drawn: the ones a learner builds a comm from."""
    if rec.direction == "to_kernel":
        return act.name in ("comm_open", "drag") and rec.msg_type.startswith("comm_")
    return act.name == "drag" and rec.msg_type == "comm_msg"


def _state_value(value) -> str:
    """A state value as a learner reads it; a reference to another model by its short id."""
    if isinstance(value, str) and value.startswith("IPY_MODEL_"):
        return f"IPY_MODEL_{value[len('IPY_MODEL_'):][:8]}…"
    return value if isinstance(value, str) else repr(value)


def _state(state: dict) -> list:
    rows = [(f"  {key}", _state_value(state[key])) for key in STATE_KEYS if key in state]
    return [Text("the IntSlider's comm_open carries its state (some of it):", style="dim"), fact_grid(rows)]


def _intro(cap: Capture) -> list:
    k = cap.kernel
    parts = [heading("kij comms", "comms, and the widgets that ride on them")]
    if k is not None:
        parts.append(Text(f"{k.name} kernel · {k.implementation} {k.implementation_version} · "
                          f"protocol {k.protocol_version}" + (f" · PID {k.pid}" if k.pid else "")))
    sent = [r for r in cap.messages if r.direction == "to_kernel"]
    good = [r for r in cap.messages if r.signature_valid is True]
    parts.append(Text(
        f"kij built and signed the {len(sent)} messages it sent (→) itself, on its own sockets; it "
        f"recomputed the signature of all {len(cap.messages)} messages with the connection key: "
        f"{len(good)} matched" + ("" if len(good) == len(cap.messages) else " (✗ marks the others)")
        + ". Comm ids are shown by their first 8 characters.", style="dim"))
    return parts


def _step(number: int, act: Act, result: CommsResult, ids: dict[str, int], width: int, compact: bool) -> list:
    """One step: its rule, kij frames' timeline, the frames that teach (not when compact), its verdict."""
    records = [r for r in result.capture.messages if r.act == act.name]
    drawn: list = [blank(), Rule(Text(f"{number} · {act.title}", style="bold"), align="left")]
    drawn += frames_view.timeline(records, ids, width)
    t0 = records[0].t_ms if records else 0.0
    for rec in (r for r in records if _detailed(act, r) and not compact):
        drawn += [blank(), frames_view.message_frames(rec, ids, t0)]
    if act.name == "widget" and result.slider_state:
        drawn += _state(result.slider_state)
    if act.outcome:
        drawn += frames_view.outcome(act)
    return drawn


def _page(result: CommsResult, width: int, compact: bool) -> list:
    cap = result.capture
    ids = frames_view.message_ids(cap.messages)
    drawn = _intro(cap)
    if compact:
        drawn.append(Text("the frames of the comm messages kij built, and --save: kij comms", style="dim"))
    for number, act in enumerate(cap.acts, 1):
        drawn += _step(number, act, result, ids, width, compact)
    if cap.takeaway:
        drawn.append(takeaway(cap.takeaway))
    return drawn


def render(result: CommsResult | Capture, compact: bool = False) -> ByWidth:
    """The whole lesson: intro, one section per step, the takeaway. `compact` (kij tour)
    leaves out the messages' frames. A bare Capture (the steps a failed run got through,
    as kij.app's shown_if_it_fails passes it) draws too."""
    if isinstance(result, Capture):
        result = CommsResult(capture=result)
    return ByWidth(lambda width: Group(*_page(result, width, compact)))


def render_compact(result: CommsResult) -> ByWidth:
    """`kij comms` as kij tour shows it (see render)."""
    return render(result, compact=True)
