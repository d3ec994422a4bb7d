"""Draws `kij control`: per part, its messages as a timeline and what they showed.

`render(result)` returns a rich renderable and never prints. Each message is one
line in the format of `kij frames`' timeline — time offset within the part, #,
direction, channel, msg_type, ✗ on a bad signature, ↳# the message it answers, the
gist — built here as a renderable that measures the width it is drawn at (below 60
columns the gist goes on a line of its own). Everything from the wire is rich Text,
never markup.
"""

from __future__ import annotations

from rich.console import Group
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from kij.trace import Record
from kij.views.frames import ARROW, NARROW, short_id, summary

TITLE = "kij control"
SUBTITLE = "the conversations beside execute"


def gist(rec: Record) -> str:
    """frames' summary, plus what the messages of this lesson say in a few words."""
    c = rec.content or {}
    header = rec.header or {}
    kind = rec.msg_type or ""
    if kind == "execute_request" and header.get("subshell_id"):
        return f"{summary(rec)} · subshell_id {short_id(header['subshell_id'])}"
    if kind == "debug_request":
        return f"{c.get('command')} (seq {c.get('seq')})"
    if kind == "debug_reply":
        return f"{c.get('command')}: {'success' if c.get('success') else 'failed'}"
    if kind == "debug_event":
        return str(c.get("event", ""))
    if kind == "create_subshell_reply":
        return f"subshell_id {short_id(c.get('subshell_id', ''))}"
    if kind == "list_subshell_reply":
        return "[" + ", ".join(short_id(i) for i in c.get("subshell_id", [])) + "]"
    if kind == "delete_subshell_request":
        return f"subshell_id {short_id(c.get('subshell_id', ''))}"
    if kind == "iopub_welcome":
        return f"subscription {c.get('subscription', '')!r}"
    if kind.endswith("_reply") and "status" in c and not summary(rec):
        return str(c["status"])
    return summary(rec)


def _same(a: Record, b: Record) -> bool:
    """Two consecutive debug_events from the kernel saying the same thing."""
    return (a.msg_type == b.msg_type == "debug_event" and a.direction == b.direction
            and a.parent_msg_id == b.parent_msg_id and gist(a) == gist(b))


class Timeline:
    """One line per message, laid out for the width it is rendered at."""

    def __init__(self, records: list[Record], ids: dict[str, int]):
        self.records = records
        self.ids = ids

    def runs(self) -> list[tuple[Record, int]]:
        """Consecutive messages that say the same thing (debugpy's dozen "module"
        events) as one line: (the first of them, how many)."""
        out: list[tuple[Record, int]] = []
        for rec in self.records:
            if out and _same(out[-1][0], rec) and rec.seq == out[-1][0].seq + out[-1][1]:
                out[-1] = (out[-1][0], out[-1][1] + 1)
            else:
                out.append((rec, 1))
        return out

    def lines(self, width: int) -> list[Text]:
        if not self.records:
            return [Text("(no messages)", style="dim")]
        t0 = self.records[0].t_ms
        narrow = width < NARROW
        out = []
        for rec, count in self.runs():
            what = rec.msg_type or ("ping" if rec.direction == "to_kernel" else "(not a message)")
            tail_text = gist(rec) + (f" ×{count} (#{rec.seq}–#{rec.seq + count - 1})" if count > 1 else "")
            if rec.msg_type == "status":
                what, tail_text = f"status {tail_text}", ""
            link = f"↳#{self.ids[rec.parent_msg_id]} " if rec.parent_msg_id in self.ids else ""
            bad = "✗ bad signature " if rec.signature_valid is False else ""
            head = Text.assemble(
                (f"{'+' + format(rec.t_ms - t0, '.1f'):>7} ", "dim"),
                (f"{'#' + str(rec.seq):<4} {ARROW.get(rec.direction, '?')} {rec.channel:<7} ",
                 "bold" if rec.direction == "to_kernel" else ""),
                (f"{what:<19} " if not narrow else f"{what} ", ""),
            )
            tail = Text.assemble((bad, "bold red"), (link, "blue"), (tail_text, "dim"))
            if narrow and (head + tail).cell_len > width:
                out.append(head)
                if tail.plain.strip():
                    out.append(Text("         ") + tail)
            else:
                out.append(head + tail)
        for line in out:
            line.no_wrap, line.overflow = True, "ellipsis"
        return out

    def __rich_console__(self, console, options):
        for line in self.lines(options.max_width):
            line.truncate(options.max_width, overflow="ellipsis")
            yield line


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


def _part(number: int, act, part, records: list[Record], ids: dict[str, int]) -> list:
    says = Table.grid()  # the sentences hang off their mark, indented as one block
    says.add_column(width=2, no_wrap=True)
    says.add_column(ratio=1)
    for i, sentence in enumerate(part.says if part else [act.outcome, *act.evidence]):
        mark = Text("✓" if act.ok else "✗", style="bold green" if act.ok else "bold red") if i == 0 else Text("")
        says.add_row(mark, Text(sentence))
    return [Text(""), Rule(Text(f"{number} · {act.title}", style="bold"), align="left"),
            Timeline(records, ids), Text(""), says]


def render(result) -> Group:
    """The whole lesson: a heading, the kernel, each part, the takeaway."""
    cap = result.capture
    ids: dict[str, int] = {}
    for r in cap.messages:
        if r.msg_id:
            ids.setdefault(r.msg_id, r.seq)
    parts_by_name = {p.name: p for p in result.parts}
    body = [Text.assemble((TITLE, "bold"), f" — {SUBTITLE}"), *_intro(result)]
    for number, act in enumerate(cap.acts, 1):
        records = [r for r in cap.messages if r.act == act.name]
        body += _part(number, act, parts_by_name.get(act.name), records, ids)
    if result.takeaway:
        body += [Text(""), Text.assemble(("→ ", "bold green"), result.takeaway)]
    return Group(*body)
