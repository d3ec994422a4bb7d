"""Draws `kij control`: per part, its messages as a timeline and what they showed.

`render(result)` returns a rich renderable and never prints. Each part's messages are
drawn by `kij frames`' own timeline (kij.views.frames.timeline), folding debugpy's runs
of identical debug_events into one line; each message's gist comes from the shared
`parts.summary`. Everything from the wire is rich Text, never markup.
"""

from __future__ import annotations

from rich.console import Group
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from kij.trace import Record
from kij.views.frames import message_ids, timeline
from kij.views.parts import CHECK, ByWidth, blank, heading, takeaway

TITLE = "kij control"
SUBTITLE = "the conversations beside execute"


def _intro(result) -> list:
    k = result.capture.kernel
    if k is None:
        return []
    bits = [f"{k.name} kernel", f"{k.implementation} {k.implementation_version}", f"protocol {k.protocol_version}"]
    if k.pid:
        bits.append(f"PID {k.pid}")
    return [Text(" · ".join(bits)),
            Text(f"key {k.key_hint} signs every message ({k.signature_scheme}); signatures kij checked and "
                 "found bad are marked ✗", style="dim")]


def _says(act, part) -> Table:
    """The part's sentences, hanging off its ✓ or ✗ as one indented block."""
    says = Table.grid()
    says.add_column(width=2, no_wrap=True)
    says.add_column(ratio=1)
    mark, colour = CHECK[bool(act.ok)]
    for i, sentence in enumerate(part.says if part else [act.outcome, *act.evidence]):
        says.add_row(Text(mark, style=f"bold {colour}") if i == 0 else Text(""), Text(sentence))
    return says


def _part(number: int, act, part, records: list[Record], ids: dict[str, int], compact: bool) -> list:
    title = [blank(), Rule(Text(f"{number} · {act.title}", style="bold"), align="left")]
    if compact:
        return [*title, _says(act, part)]
    drawn = ByWidth(lambda width: Group(*(timeline(records, ids, width, fold=True)
                                          or [Text("(no messages)", style="dim")])))
    return [*title, drawn, blank(), _says(act, part)]


def render_compact(result) -> Group:
    """`kij control` as kij tour shows it: each part's verdict, no timelines."""
    return render(result, compact=True)


def render(result, compact: bool = False) -> Group:
    """The whole lesson: a heading, the kernel, each part (its timeline unless compact,
    then what it showed), the takeaway."""
    cap = result.capture
    ids = message_ids(cap.messages)
    parts_by_name = {p.name: p for p in result.parts}
    body = [heading(TITLE, SUBTITLE), *_intro(result)]
    for number, act in enumerate(cap.acts, 1):
        records = [r for r in cap.messages if r.act == act.name]
        body += _part(number, act, parts_by_name.get(act.name), records, ids, compact)
    if compact:
        body += [blank(), Text("every message of every part, and --save/--load: kij control", style="dim")]
    if result.takeaway:
        body.append(takeaway(result.takeaway))
    return Group(*body)
