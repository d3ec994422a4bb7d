"""Draws `kij tap`: where the traces are, and a trace line by line as it grows.

The live lines are the `kij frames` timeline (direction, channel, type, parent link,
gist) with time since the trace began; `--frames` adds every message's frames, drawn
exactly as `kij frames` draws them. A trace is said to be live only while its tap
proxy still writes it; a finished one is shown as a recording. `trace_intro` is the
head `kij frames --load` draws for a tap trace. Like every view it works from
records alone, and returns what to draw: the CLI prints it (a `Follower` returns
each event's lines as the event comes).
"""

from __future__ import annotations

import time

from rich.console import Group
from rich.rule import Rule
from rich.text import Text

from kij.views.frames import message_frames
from kij.views.parts import blank, heading, line, named, parent_link, plain_table, timeline_head


def clock(t: float | None) -> str:
    """A time stamp as the local wall clock, with the day when it is not today."""
    if t is None:
        return "an unknown time"
    if time.strftime("%Y-%m-%d", time.localtime(t)) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M:%S", time.localtime(t))
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def describe(info) -> str:
    """One line on a trace: whose it is, and whether its tap is still writing it."""
    who = f"kernel {info.kernel_id}" + (f" ({info.kernel})" if info.kernel else "")
    if info.live:
        return f"{who} · traced since {clock(info.started)} · live (its tap proxy is writing it)"
    return f"{who} · its tap exited · last written {clock(info.modified)}, {ago(info.age_s)}"


def render_status(st) -> Group:
    parts = [heading("kij tap", "the real wire of any frontend, through a transparent proxy kernel"),
             Text.assemble("traces go to ", (st.trace_dir, "bold"), "/<kernel-id>.jsonl", overflow="fold")]
    if st.env_trace:
        parts.append(Text.assemble("and, as KIJ_TAP_TRACE says, to ", (st.env_trace, "bold"), overflow="fold"))
    parts.append(blank())
    if st.kernelspecs:
        parts.append(Text("tap kernelspecs installed (pick one in JupyterLab's launcher):"))
        parts += [Text(f"  {name:<20} → {wraps}") for name, wraps in sorted(st.kernelspecs.items())]
    else:
        parts.append(Text("no tap kernelspec is installed here; `kij tap install --kernel python3` makes one"))
    parts.append(blank())
    if st.traces:
        live = [t for t in st.traces if t.live]
        parts.append(Text(f"{len(st.traces)} trace(s) here, {len(live)} live:"))
        parts += [Text(f"  {describe(info)}", style="" if info.live else "dim", overflow="fold")
                  for info in st.traces[:5]]
        if len(st.traces) > 5:
            parts.append(Text(f"  … and {len(st.traces) - 5} older", style="dim"))
    else:
        parts.append(Text("no traces yet: run a cell on a tap kernel"))
    parts.append(Text("kij tap --follow: the newest live one · kij tap prune: remove finished ones", style="dim"))
    return Group(*parts)


def render_installed(inst) -> Group:
    return Group(
        Text.assemble("installed ", (inst.name, "bold"), f" ({inst.display_name!r}) → ", inst.path, overflow="fold"),
        Text(f"it starts {inst.wraps} behind kij tap; remove it with `kij tap uninstall --kernel {inst.wraps}`",
             style="dim"))


def render_removed(paths: list[str]) -> Group:
    if not paths:
        return Group(Text("no tap kernelspec to remove"))
    return Group(*(Text(f"removed {p}", overflow="fold") for p in paths))


def render_pruned(pruned, why: str = "") -> Group:
    """What pruning removed: each trace, whose it was and when it was last written."""
    if not pruned:
        return Group(Text("no finished trace to remove (a live trace is never removed)"))
    return Group(Text(f"removed {len(pruned)} finished trace(s){why}:", style="dim"),
                 *(Text(f"  {info.path} · kernel {info.kernel_id} · last written {clock(info.modified)}",
                        style="dim", overflow="fold") for info in pruned))


# --- the head of a tap trace, for `kij frames --load` ---------------------------------


def trace_intro(cap) -> list:
    """What a tap trace knows: the tap proxy, the kernel behind it (its own
    kernel_info_reply, if the trace holds one), and the proxy's sockets and ports."""
    from kij.trace import kernel_info_reply

    k, tap = cap.kernel, cap.tap
    parts = [Text(f"a kij tap trace: a frontend's own traffic, relayed and recorded by the tap proxy "
                  f"(PID {tap.get('proxy_pid')}, started {clock(tap.get('started'))})", overflow="fold")]
    bits = [f"{k.name} kernel behind the tap" if k else "the kernel behind the tap"]
    info = kernel_info_reply(cap.messages)
    if info is not None:
        c = info.content
        bits.append(f"{c.get('implementation')} {c.get('implementation_version')}")
        bits.append(f"protocol {c.get('protocol_version')} (its kernel_info_reply, #{info.seq})")
    if k and k.pid:
        bits.append(f"PID {k.pid}")
    parts.append(Text(" · ".join(bits), overflow="fold"))
    if info is None:
        parts.append(Text("(no kernel_info_reply in this trace: the kernel's implementation and protocol "
                          "version were not seen)", style="dim"))
    if k:
        parts += [
            Text(f"the frontend's connection file {k.connection_file}", style="dim", overflow="fold"),
            Text(f"the real kernel's connection file {tap.get('kernel_connection_file')}", style="dim",
                 overflow="fold"),
            Text.assemble("key ", (k.key_hint, "bold"), f" signs every message ({k.signature_scheme}); "
                          "the proxy checked each signature as it relayed it")]
    return parts + _proxy_sockets(cap)


def _proxy_sockets(cap) -> list:
    """The proxy's two sides, socket by socket, and who else wrote the trace."""
    k, tap = cap.kernel, cap.tap
    sockets = tap.get("sockets") or {}
    table = plain_table()
    for col in ("channel", "proxy, frontend side", "port", "proxy, kernel side", "port"):
        table.add_column(col, style="dim" if col != "channel" else None, no_wrap=True)
    ports, kernel_ports = (k.ports if k else {}), tap.get("kernel_ports") or {}
    for channel in ("shell", "iopub", "stdin", "control", "hb"):
        front, back = sockets.get(channel) or ("?", "?")
        table.add_row(channel, front, str(ports.get(channel, "")), back, str(kernel_ports.get(channel, "")))
    parts = [blank(), table]
    if not sockets:
        parts.append(Text("(this trace predates the proxy writing down its socket types: ? = not recorded)",
                          style="dim"))
    for c in tap.get("continued_by") or []:
        parts.append(Text(f"from #{c.get('from_seq')} on, a new tap proxy wrote this trace (a restart, or another "
                          f"kernel sharing it): {c.get('kernel')} kernel PID {c.get('kernel_pid')} · proxy PID "
                          f"{c.get('proxy_pid')} · since {clock(c.get('started'))}", style="bold", overflow="fold"))
    if tap.get("kernel_sees_identity"):
        parts.append(Text(f"the real kernel sees one more routing frame first, the proxy's identity "
                          f"{tap['kernel_sees_identity']!r}; frames from <IDS|MSG> on are unchanged", style="dim"))
    return parts


# --- following a trace ------------------------------------------------------------------


class Follower:
    """Turns follow events, one by one, into what to draw for each (the CLI prints it);
    remembers msg_ids to draw parent links."""

    def __init__(self, frames: bool = False):
        self.frames = frames
        self.ids: dict[str, int] = {}
        self.t_of: dict[str, float] = {}  # msg_id → its t_ms
        self.said_legend = False
        self.said_heading = False

    def __call__(self, event) -> Group:
        return Group(*getattr(self, f"_{event.kind}")(event))

    def _pruned(self, event) -> list:
        return self._heading() + [render_pruned(event.pruned, why=" not written for a week")]

    def _waiting(self, event) -> list:
        parts = self._heading()
        if event.info is not None:  # following one FILE whose tap exited
            return parts + [Text("waiting for a tap to take this trace up again (a restart does); Ctrl-C ends",
                                 style="dim")]
        parts.append(Text(f"waiting for a live trace in {event.path} — start a tap kernel "
                          "(JupyterLab: \"Python 3 (kij tap)\")", style="dim", overflow="fold"))
        last = event.newest_finished
        if last is not None:
            parts.append(Text(f"the newest trace there is a recording: {describe(last)}", style="dim",
                              overflow="fold"))
            parts.append(Text(f"replay it: kij tap --follow {last.path}", style="dim", overflow="fold"))
        return parts

    def _heading(self) -> list:
        if self.said_heading:
            return []
        self.said_heading = True
        return [heading("kij tap --follow", "your frontend's wire, live")]

    def _file(self, event) -> list:
        parts = self._heading()
        self.ids.clear()
        self.t_of.clear()
        self.said_legend = False
        info = event.info
        title = "watching" if info.live else "replaying a recording:"
        parts.append(Rule(Text(f"{title} {event.path}", style="bold"), align="left"))
        parts.append(Text(describe(info), style="bold" if info.live else "yellow", overflow="fold"))
        if not info.live:
            parts.append(Text("this trace's tap has exited: nothing below is happening now", style="yellow"))
        return parts

    def _caught_up(self, event) -> list:
        return [Text(f"── recorded before you started following; live from here "
                     f"({clock(time.time())}) ──", style="dim")]

    def _ended(self, event) -> list:
        return [Text(f"── end of the trace: its tap exited; last written {clock(event.info.modified)} ──",
                     style="dim", overflow="fold")]

    def _head(self, event) -> list:
        k = event.head.get("kernel") or {}
        tap = event.head.get("tap") or {}
        bits = [f"{k.get('name')} kernel behind the tap"]
        if k.get("pid"):
            bits.append(f"PID {k['pid']}")
        if tap.get("proxy_pid"):
            bits.append(f"proxy PID {tap['proxy_pid']}")
        return [Text(" · ".join(bits)),
                Text(f"the frontend's connection file {k.get('connection_file')}", style="dim", overflow="fold"),
                Text.assemble("key ", (str(k.get("key_hint")), "bold"),
                              f" signs every message ({k.get('signature_scheme')}); "
                              "the trace never holds the key itself")]

    def _continued(self, event) -> list:
        c = event.head
        return [Text(f"── from here a new tap proxy writes this trace (a restart, or another kernel "
                     f"sharing it): {c.get('kernel')} kernel PID {c.get('kernel_pid')} · proxy PID "
                     f"{c.get('proxy_pid')} · since {clock(c.get('started'))} ──", style="bold", overflow="fold")]

    def _legend(self, checked_here: bool) -> list:
        if checked_here:
            text = ("✓/✗: kij tap --follow recomputed each HMAC itself, with the key from --connection-file.")
        else:
            text = ("✓/✗: the tap proxy recomputed each HMAC with the connection key as it relayed the "
                    "message; --follow cannot (the key is not in the trace) unless you pass --connection-file.")
        when = "t: seconds since the trace began (its first tap proxy started)"
        if self.frames:
            when += ("; +ms above a message's frames: since the request it answers, when the trace shows it, "
                     "else since the trace began")
        return [Text(text, style="dim"), Text(when + ".", style="dim"),
                Text(" t (s)    #    ch      type", style="dim")]

    def _record(self, event) -> list:
        rec = event.record
        parts = []
        if not self.said_legend:
            self.said_legend = True
            parts += self._legend(event.checked_here)
        if rec.msg_id:
            self.ids[rec.msg_id] = rec.seq  # the latest: some clients reuse msg_ids across sessions
        what, gist = named(rec)
        if what in ("subscribe", "unsubscribe"):
            gist = (rec.note or "").split(":", 1)[0].split(" ", 1)[-1]
        elif rec.note and not rec.msg_type and rec.channel != "hb":
            gist = rec.note
        mark, mark_style = {True: ("✓ ", "green"), False: ("✗ ", "bold red")}.get(rec.signature_valid, ("  ", ""))
        parts.append(line(*timeline_head(f"{rec.t_ms / 1000:>7.3f} ", rec, seq_width=4),
                          (mark, mark_style), (f"{what:<19} ", ""),
                          (parent_link(rec, self.ids, unseen=True), "blue"), (gist, "dim")))
        if self.frames and rec.channel != "hb":
            parts.append(message_frames(rec, self.ids, self._t0_of(rec)))
        if rec.msg_id:
            self.t_of[rec.msg_id] = rec.t_ms
        return parts

    def _t0_of(self, rec) -> float:
        """The time the offset in a message's frames counts from: the request it
        answers, when the trace showed it; else the trace's beginning (t_ms 0)."""
        return self.t_of.get(rec.parent_msg_id, 0.0) if rec.parent_msg_id else 0.0
