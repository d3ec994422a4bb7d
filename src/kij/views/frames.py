"""Draws `kij frames`: a timeline per step, and the frames of every message that matters.

Works from a trace.Capture alone — live or loaded from a file — and never from a
kernel. Everything that came off the wire is drawn as rich Text (never as markup),
so a `[` in someone's output cannot restyle the page.
"""

from __future__ import annotations

import json

from kij.trace import Act, Capture, Record, key_hint
from kij.views import console, heading, takeaway

ARROW = {"to_kernel": "→", "from_kernel": "←"}
SOCKETS = [  # channel, kij's socket, the kernel's socket
    ("shell", "DEALER", "ROUTER"),
    ("iopub", "SUB", "PUB"),
    ("stdin", "DEALER", "ROUTER"),
    ("control", "DEALER", "ROUTER"),
    ("hb", "REQ", "REP"),
]
ROLE_STYLE = {"delimiter": "magenta", "signature": "yellow", "header": "cyan",
              "parent_header": "blue", "content": "green", "topic": "dim", "identity": "dim"}
NARROW = 60  # below this many columns, a frame's preview goes on a line of its own


# --- one-line summaries -------------------------------------------------------------


def _short(text: str, n: int = 40) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= n else text[: n - 1] + "…"


def summary(rec: Record) -> str:
    """What a message says, in a few words."""
    c = rec.content or {}
    kind = rec.msg_type
    if rec.channel == "hb":
        payload = rec.frames[0] if rec.frames else None
        if payload is None:
            return "(no frames)"
        return f"{payload.length} B: " + (_short(payload.text) if payload.text is not None else "0x" + (payload.hex or ""))
    if kind == "status":
        return c.get("execution_state", "")
    if kind == "stream":
        return f"{c.get('name')}: {_short(c.get('text', ''))}"
    if kind == "execute_input":
        return _short(c.get("code", ""))
    if kind == "execute_request":
        return _short(c.get("code", ""))
    if kind == "execute_result":
        return f"Out[{c.get('execution_count')}]: {_short(c.get('data', {}).get('text/plain', ''))}"
    if kind == "execute_reply":
        return f"{c.get('status')}, execution_count {c.get('execution_count')}"
    if kind == "error":
        return f"{c.get('ename')}: {_short(c.get('evalue', ''))}"
    if kind == "input_request":
        return f"prompt {c.get('prompt')!r}"
    if kind == "input_reply":
        return f"value {c.get('value')!r}"
    if kind == "kernel_info_reply":
        return f"{c.get('implementation')} {c.get('implementation_version')}"
    if kind == "iopub_welcome":
        return "the kernel greets a new subscriber"
    return ""


def _ms(t: float) -> str:
    return f"+{t:.1f}"


# --- the pieces ---------------------------------------------------------------------


def _intro(con, cap: Capture) -> None:
    from rich.table import Table
    from rich.text import Text

    k = cap.kernel
    if cap.loaded_from:
        con.print(Text(f"no kernel was started: this capture was loaded from {cap.loaded_from}",
                       style="dim", overflow="fold"))
    if cap.tap is not None:  # a tap proxy's trace: the proxy's sockets, not kij's
        from kij.views.tap import trace_intro

        return trace_intro(con, cap)
    if k is None:
        return
    who = f"{k.name} kernel" if not k.existing else "an existing kernel (kij leaves it running)"
    bits = [who, f"{k.implementation} {k.implementation_version}", f"protocol {k.protocol_version}"]
    if k.pid:
        bits.append(f"PID {k.pid}")
    con.print(Text(" · ".join(bits)))
    con.print(Text(f"connection file {k.connection_file}", style="dim", overflow="fold"))
    if k.key_hint == key_hint(""):
        con.print(Text.assemble("key ", ("empty", "bold"), ": signing is off — this kernel accepts any "
                                "message, signed or not"))
    else:
        con.print(Text.assemble("key ", (k.key_hint, "bold"), f" signs every message ({k.signature_scheme})"))
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 2, 0, 0))
    for col in ("channel", "kij's socket", "kernel's", "port"):
        table.add_column(col, style="dim" if col != "channel" else None, no_wrap=True)
    for channel, ours, theirs in SOCKETS:
        table.add_row(channel, ours, theirs, str(k.ports.get(channel, "")))
    con.print()
    con.print(table)
    if k.notice and cap.loaded_from:  # a live run said it on stderr, before it began
        con.print()
        con.print(Text(f"Before it began, kij said: {k.notice}", style="yellow"))
    if cap.identity:
        con.print(Text(f"kij's shell and stdin sockets share the identity {cap.identity!r}: the kernel "
                       "sends input_request to whoever sent the execute_request.", style="dim"))


def _line(con, *parts) -> None:
    """One line that is cut with … rather than wrapped when the terminal is narrow."""
    from rich.text import Text

    con.print(Text.assemble(*parts), no_wrap=True, overflow="ellipsis")


def _fit(con, head: tuple, tail: tuple, indent: int = 7) -> None:
    """head and tail on one line if they fit; otherwise tail on an indented line below."""
    from rich.text import Text

    if Text.assemble(*head, *tail).cell_len <= con.width:
        _line(con, *head, *tail)
    else:
        _line(con, *head)
        if Text.assemble(*tail).plain.strip():
            _line(con, (" " * indent, ""), *tail)


def short_id(msg_id: str) -> str:
    """Head and tail of a msg_id (ipykernel's ids share a long prefix; the tail differs)."""
    return msg_id if len(msg_id) <= 16 else f"{msg_id[:8]}…{msg_id[-6:]}"


def _unnamed(rec: Record) -> str:
    """What to call frames with no msg_type: a heartbeat, an iopub subscription, junk."""
    if rec.channel == "hb":
        return "ping" if rec.direction == "to_kernel" else "echo"
    if rec.channel == "iopub" and rec.direction == "to_kernel" and (rec.note or "").startswith(("subscribe", "unsubscribe")):
        return rec.note.split(" ", 1)[0]
    return "(not a message)"


def _timeline(con, records: list[Record], ids: dict[str, int]) -> None:
    """One line per message: ms since the step began, #, direction, channel, type, gist."""
    if not records:
        return
    t0 = records[0].t_ms
    narrow = con.width < NARROW
    for rec in records:
        arrow = ARROW.get(rec.direction, "?")
        what = rec.msg_type or _unnamed(rec)
        gist = summary(rec)
        if rec.msg_type == "status":
            what, gist = f"status {gist}", ""
        link = f"↳#{ids[rec.parent_msg_id]} " if rec.parent_msg_id in ids else ""
        bad = "✗ bad signature " if rec.signature_valid is False else ""
        head = (
            (f"{_ms(rec.t_ms - t0):>6} ", "dim"),
            (f"#{rec.seq:<3}{arrow} {rec.channel:<7} ", "bold" if rec.direction == "to_kernel" else ""),
            (f"{what:<19} " if not narrow else f"{what} ", ""),
        )
        tail = ((bad, "bold red"), (link, "blue"), (gist, "dim"))
        if narrow:
            _fit(con, head, tail)
        else:
            _line(con, *head, *tail)


def _frames(con, rec: Record, ids: dict[str, int], t0: float) -> None:
    """A message frame by frame: index, byte length, role, and as much of it as fits."""
    _line(con, (f"#{rec.seq} {ARROW.get(rec.direction, '?')} {rec.channel}", "bold"), (" · ", ""),
          (rec.msg_type or _unnamed(rec), "bold"), (f" · {_ms(rec.t_ms - t0)} ms", "dim"))
    if rec.msg_id:
        parent = []
        if rec.parent_msg_id:
            parent.append((f"  parent {short_id(rec.parent_msg_id)}", "blue"))
            if rec.parent_msg_id in ids:
                parent.append((f" = #{ids[rec.parent_msg_id]}", "blue"))
        _fit(con, ((f"   msg_id {short_id(rec.msg_id)}", "dim"),), tuple(parent), indent=1)
    if rec.note:
        _line(con, (f"   {rec.note}", "italic"))
    narrow = con.width < NARROW
    for f in rec.frames:
        mark, mark_style = "", ""
        if f.role == "signature" and rec.signature_valid is not None:
            mark, mark_style = (" ✓", "green") if rec.signature_valid else (" ✗", "bold red")
        head = (
            (f"  [{f.index}]", "dim"), (f" {f.length:>5} B ", ""),
            (f.role, ROLE_STYLE.get(f.role, "")), (mark, mark_style),
            (" " * max(1, 14 - len(f.role) - len(mark)), ""),
        )
        if narrow:
            _fit(con, head, ((_preview(f), "dim"),))
        else:
            _line(con, *head, (_preview(f), ""))


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


def _outcome(con, act: Act) -> None:
    from rich.text import Text

    if act.outcome.startswith("skipped"):
        mark = Text("– ", style="dim")
    else:
        mark = Text("✓ " if act.ok else "✗ ", style="bold green" if act.ok else "bold red")
    con.print(Text.assemble(mark, act.outcome))
    for line in act.evidence:  # wrapped, not cut: this is the proof
        if line.startswith("("):  # kij's remark about the log, not a line from it
            con.print(Text(f"  {line}", style="dim italic"))
        else:
            con.print(Text.assemble(("  kernel log │ ", "dim"), (line, "yellow"), overflow="fold"))


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


def render(cap: Capture, compact: bool = False) -> None:
    """Every step of the capture: its timeline, the frames of the messages that teach
    something, and its verdict. `compact` (kij tour) draws the frames of one message
    only, the execute_request; `kij frames` draws them all."""
    from rich.rule import Rule
    from rich.text import Text

    con = console()
    subtitle = ("every socket, every step; the frames of one message" if compact
                else "every socket, every frame, every signature")
    heading(con, "kij frames", subtitle)
    _intro(con, cap)
    ids: dict[str, int] = {}  # msg_id → # of the message that first carried it
    for r in cap.messages:
        if r.msg_id:
            ids.setdefault(r.msg_id, r.seq)
    acts: list[Act | None] = list(cap.acts) or [None]
    for number, act in enumerate(acts, 1):
        records = [r for r in cap.messages if act is None or r.act == act.name]
        title = act.title if act else "captured messages"
        con.print()
        con.print(Rule(Text(f"{number} · {title}", style="bold"), align="left"))
        if act is not None and act.name == "execute":
            con.print(Text.assemble("cell  ", (cap.code, "cyan")))
        _timeline(con, records, ids)
        t0 = records[0].t_ms if records else 0.0
        detailed = [r for r in records if _detailed(act, r)]
        if compact:  # the execute_request's frames only
            detailed = [r for r in detailed if act and act.name == "execute" and r.msg_type == "execute_request"][:1]
        if detailed:
            con.print()
        if detailed and act is not None and act.name == "execute":
            signed = cap.kernel is None or cap.kernel.key_hint != key_hint("")
            con.print(Text(LEGEND if signed else LEGEND_UNSIGNED, style="dim"))
        for rec in detailed:
            _frames(con, rec, ids, t0)
        if act is not None and act.outcome:
            _outcome(con, act)
    if compact:
        con.print(Text("\nevery frame of every message, and --save/--load: kij frames", style="dim"))
    if cap.takeaway:
        takeaway(con, cap.takeaway)


def render_compact(cap: Capture) -> None:
    """`kij frames` as kij tour shows it (see render)."""
    render(cap, compact=True)


def tell(text: str) -> None:
    """Something a person attached to the kernel must hear now, before it happens
    (on stderr, so --json stays clean)."""
    from rich.text import Text

    console(stderr=True).print(Text.assemble(("kij: ", "bold yellow"), text))
