"""Draws `kij frames`: a timeline per step, and the frames of every message that matters.

Works from a trace.Capture alone — live or loaded from a file — and never from a
kernel. Everything that came off the wire is drawn as rich Text (never as markup),
so a `[` in someone's output cannot restyle the page. `render` returns the page;
`notice` is the line the CLI puts on stderr before kij runs a cell on an attached
kernel.
"""

from __future__ import annotations

import json

from rich.console import Group
from rich.rule import Rule
from rich.text import Text

from kij.trace import Act, Capture, Record, key_hint
from kij.views.parts import (ARROW, ByWidth, blank, fit, heading, line, named, parent_link, short_id, takeaway,
                             plain_table, timeline_head, unnamed)

SOCKETS = [  # channel, kij's socket, the kernel's socket (iopub's: see kernel_socket)
    ("shell", "DEALER", "ROUTER"),
    ("iopub", "SUB", "PUB/XPUB"),
    ("stdin", "DEALER", "ROUTER"),
    ("control", "DEALER", "ROUTER"),
    ("hb", "REQ", "REP"),
]
ROLE_STYLE = {"delimiter": "magenta", "signature": "yellow", "header": "cyan",
              "parent_header": "blue", "content": "green", "topic": "dim", "identity": "dim"}
NARROW = 60  # below this many columns, a frame's preview goes on a line of its own


def _ms(t: float) -> str:
    return f"+{t:.1f}"


# --- the pieces ---------------------------------------------------------------------


def _intro(cap: Capture) -> list:
    parts = []
    if cap.loaded_from:
        parts.append(Text(f"no kernel was started: this capture was loaded from {cap.loaded_from}",
                          style="dim", overflow="fold"))
    if cap.tap is not None:  # a tap proxy's trace: the proxy's sockets, not kij's
        from kij.views.tap import trace_intro

        return parts + trace_intro(cap)
    if any(r.leg == "websocket" for r in cap.messages):  # kij server: a browser's leg and the server's
        from kij.views.server import capture_intro

        return parts + capture_intro(cap)
    if cap.kernel is None:
        return parts
    return parts + _kernel_intro(cap)


def _kernel_intro(cap: Capture) -> list:
    """The kernel kij started (or attached to), its key, and kij's five sockets onto it."""
    k = cap.kernel
    who = f"{k.name} kernel" if not k.existing else "an existing kernel (kij leaves it running)"
    bits = [who, f"{k.implementation} {k.implementation_version}", f"protocol {k.protocol_version}"]
    if k.pid:
        bits.append(f"PID {k.pid}")
    parts = [Text(" · ".join(bits)), Text(f"connection file {k.connection_file}", style="dim", overflow="fold")]
    if k.key_hint == key_hint(""):
        parts.append(Text.assemble("key ", ("empty", "bold"), ": signing is off — this kernel accepts any "
                                   "message, signed or not"))
    else:
        parts.append(Text.assemble("key ", (k.key_hint, "bold"), f" signs every message ({k.signature_scheme})"))
    table = plain_table()
    for col in ("channel", "kij's socket", "kernel's", "port"):
        table.add_column(col, style="dim" if col != "channel" else None, no_wrap=True)
    for channel, ours, theirs in SOCKETS:
        table.add_row(channel, ours, kernel_socket(cap, channel, theirs), str(k.ports.get(channel, "")))
    parts += [blank(), table]
    if k.notice and cap.loaded_from:  # a live run said it on stderr, before it began
        parts += [blank(), Text(f"Before it began, kij said: {k.notice}", style="yellow")]
    if cap.identity:
        parts.append(Text(f"kij's shell and stdin sockets share the identity {cap.identity!r}: the kernel "
                          "sends input_request to whoever sent the execute_request.", style="dim"))
    return parts


def kernel_socket(cap: Capture, channel: str, spec: str) -> str:
    """The kernel's socket type on a channel. iopub's is a PUB, or an XPUB (a PUB that
    also hears subscriptions: ipykernel 7's, and kij-native's); the wire shows which
    only when the kernel greeted a subscriber with iopub_welcome (protocol 5.5)."""
    if channel == "iopub" and any(r.msg_type == "iopub_welcome" for r in cap.messages):
        return "XPUB"
    return spec


def message_ids(records: list[Record]) -> dict[str, int]:
    """msg_id → # of the message that first carried it (what ↳#n points at)."""
    ids: dict[str, int] = {}
    for r in records:
        if r.msg_id:
            ids.setdefault(r.msg_id, r.seq)
    return ids


def _runs(records: list[Record]) -> list[tuple[Record, int]]:
    """Consecutive messages that say the same thing (debugpy's dozen "module" debug_events)
    as (the first of them, how many)."""
    out: list[tuple[Record, int]] = []
    for rec in records:
        if out and _same(out[-1][0], rec) and rec.seq == out[-1][0].seq + out[-1][1]:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((rec, 1))
    return out


def _same(a: Record, b: Record) -> bool:
    return (a.direction, a.channel, a.msg_type, a.parent_msg_id, named(a)) == \
        (b.direction, b.channel, b.msg_type, b.parent_msg_id, named(b))


def timeline(records: list[Record], ids: dict[str, int], width: int, fold: bool = False) -> list[Text]:
    """One line per message: ms since the step began, #, direction, channel, type, gist.
    With fold, consecutive messages that say the same thing are one line, "×n (#a–#b)"."""
    if not records:
        return []
    t0 = records[0].t_ms
    narrow = width < NARROW
    # columns as wide as the longest offset and # (a step of seconds, a capture of 1000 messages)
    when_width = max(6, len(_ms(records[-1].t_ms - t0)))
    seq_width = max(3, len(str(records[-1].seq)) + 1)
    drawn = []
    for rec, count in _runs(records) if fold else [(r, 1) for r in records]:
        what, gist = named(rec)
        if count > 1:
            gist += f" ×{count} (#{rec.seq}–#{rec.seq + count - 1})"
        bad = "✗ bad signature " if rec.signature_valid is False else ""
        head = (*timeline_head(f"{_ms(rec.t_ms - t0):>{when_width}} ", rec, seq_width),
                (f"{what:<19} " if not narrow else f"{what} ", ""))
        tail = ((bad, "bold red"), (parent_link(rec, ids), "blue"), (gist, "dim"))
        drawn += fit(width, head, tail) if narrow else [line(*head, *tail)]
    return drawn


def message_frames(rec: Record, ids: dict[str, int], t0: float) -> ByWidth:
    """A message frame by frame: index, byte length, role, and as much of it as fits."""
    return ByWidth(lambda width: Group(*_frames(rec, ids, t0, width)))


def _frames(rec: Record, ids: dict[str, int], t0: float, width: int) -> list[Text]:
    drawn = [line((f"#{rec.seq} {ARROW.get(rec.direction, '?')} {rec.channel}", "bold"), (" · ", ""),
                  (rec.msg_type or unnamed(rec), "bold"), (f" · {_ms(rec.t_ms - t0)} ms", "dim"))]
    if rec.msg_id:
        parent = []
        if rec.parent_msg_id:
            parent.append((f"  parent {short_id(rec.parent_msg_id)}", "blue"))
            if rec.parent_msg_id in ids:
                parent.append((f" = #{ids[rec.parent_msg_id]}", "blue"))
        drawn += fit(width, ((f"   msg_id {short_id(rec.msg_id)}", "dim"),), tuple(parent), indent=1)
    if rec.note:
        drawn.append(line((f"   {rec.note}", "italic")))
    narrow = width < NARROW
    for f in rec.frames:
        mark, mark_style = "", ""
        if f.role == "signature" and rec.signature_valid is not None:
            mark, mark_style = (" ✓", "green") if rec.signature_valid else (" ✗", "bold red")
        head = (
            (f"  [{f.index}]", "dim"), (f" {f.length:>5} B ", ""),
            (f.role, ROLE_STYLE.get(f.role, "")), (mark, mark_style),
            (" " * max(1, 14 - len(f.role) - len(mark)), ""),
        )
        drawn += fit(width, head, ((_preview(f), "dim"),)) if narrow else [line(*head, (_preview(f), ""))]
    return drawn


def _preview(frame) -> str:
    if frame.role == "subscription":
        from kij.trace import subscription_text

        return subscription_text(frame.data)
    if frame.text is None:
        return "0x" + (frame.hex or "")
    if frame.role == "signature" and len(frame.text) > 16:
        return f"{frame.text[:6]}…{frame.text[-8:]}"
    if frame.role in ("header", "parent_header", "metadata", "content"):
        try:  # as sent, minus the spaces: the most of it that fits
            return json.dumps(json.loads(frame.text), ensure_ascii=False, separators=(",", ":"))
        except ValueError:
            pass
    return frame.text.replace("\n", "⏎")


def _detailed(act: Act | None, rec: Record) -> bool:
    """Which messages get their frames drawn (--json always has all of them)."""
    if act is None or act.name == "execute":
        return True
    if act.name == "stdin":
        return rec.msg_type in ("input_request", "input_reply")
    if act.name in ("forged", "replayed"):
        return rec.msg_id == act.request_msg_id and rec.direction == "to_kernel"
    return False


def outcome(act: Act) -> list[Text]:
    if act.outcome.startswith("skipped"):
        mark = Text("– ", style="dim")
    else:
        mark = Text("✓ " if act.ok else "✗ ", style="bold green" if act.ok else "bold red")
    drawn = [Text.assemble(mark, act.outcome)]
    for evidence in act.evidence:  # wrapped, not cut: this is the proof
        if evidence.startswith("("):  # kij's remark about the log, not a line from it
            drawn.append(Text(f"  {evidence}", style="dim italic"))
        else:
            drawn.append(Text.assemble(("  kernel log │ ", "dim"), (evidence, "yellow"), overflow="fold"))
    return drawn


LEGEND = (
    "Frames before <IDS|MSG> route the message (an iopub topic; on shell the kernel's ROUTER "
    "adds kij's identity itself). The signature is HMAC over the next four frames: ✓ means kij "
    "recomputed it from the connection key and got the same hex. parent points at the request "
    "a message answers."
)

LEGEND_UNSIGNED = (
    "Frames before <IDS|MSG> route the message (an iopub topic; on shell the kernel's ROUTER "
    "adds kij's identity itself). The signature frame is empty: this kernel's key is empty, "
    "so nothing is signed. parent points at the request a message answers."
)


def _step(cap: Capture, number: int, act: Act | None, ids: dict[str, int], compact: bool, width: int) -> list:
    """One step of the capture: its rule, timeline, the frames that teach something, its verdict."""
    records = [r for r in cap.messages if act is None or r.act == act.name]
    title = act.title if act else "captured messages"
    drawn: list = [blank(), Rule(Text(f"{number} · {title}", style="bold"), align="left")]
    if act is not None and act.name == "execute":
        drawn.append(Text.assemble("cell  ", (cap.code, "cyan")))
    drawn += timeline(records, ids, width)
    t0 = records[0].t_ms if records else 0.0
    detailed = [r for r in records if _detailed(act, r)]
    if compact:  # the execute_request's frames only
        detailed = [r for r in detailed if act and act.name == "execute" and r.msg_type == "execute_request"][:1]
    if detailed:
        drawn.append(blank())
    if detailed and act is not None and act.name == "execute":
        signed = cap.kernel is None or cap.kernel.key_hint != key_hint("")
        drawn.append(Text(LEGEND if signed else LEGEND_UNSIGNED, style="dim"))
    for rec in detailed:
        drawn += _frames(rec, ids, t0, width)
    if act is not None and act.outcome:
        drawn += outcome(act)
    return drawn


def render(cap: Capture, compact: bool = False) -> ByWidth:
    """Every step of the capture: its timeline, the frames of the messages that teach
    something, and its verdict. `compact` (kij tour) draws the frames of one message
    only, the execute_request; `kij frames` draws them all."""
    return ByWidth(lambda width: Group(*_page(cap, compact, width)))


def _page(cap: Capture, compact: bool, width: int) -> list:
    subtitle = ("every socket, every step; the frames of one message" if compact
                else "every socket, every frame, every signature")
    drawn = [heading("kij frames", subtitle), *_intro(cap)]
    ids = message_ids(cap.messages)
    for number, act in enumerate(list(cap.acts) or [None], 1):
        drawn += _step(cap, number, act, ids, compact, width)
    if compact:
        drawn.append(Text("\nevery frame of every message, and --save/--load: kij frames", style="dim"))
    if cap.takeaway:
        drawn.append(takeaway(cap.takeaway))
    return drawn


def render_compact(cap: Capture) -> ByWidth:
    """`kij frames` as kij tour shows it (see render)."""
    return render(cap, compact=True)


def notice(text: str) -> Text:
    """Something a person attached to the kernel must hear now, before it happens
    (the CLI puts it on stderr, so --json stays clean)."""
    return Text.assemble(("kij: ", "bold yellow"), text)
