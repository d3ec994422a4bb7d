"""Draws `kij tap`: where the traces are, and a trace line by line as it grows.

The live lines are the `kij frames` timeline (direction, channel, type, parent link,
gist) with time since the trace began; `--frames` adds every message's frames, drawn
exactly as `kij frames` draws them. A trace is said to be live only while its tap
proxy still writes it; a finished one is shown as a recording. `trace_intro` is the
head `kij frames --load` draws for a tap trace. Like every view it works from
records alone.
"""

from __future__ import annotations

import time

from kij.views import console, heading
from kij.views.frames import _frames, _line, _unnamed, short_id, summary

ARROW = {"to_kernel": "→", "from_kernel": "←"}


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


def render_status(st) -> None:
    from rich.text import Text

    con = console()
    heading(con, "kij tap", "the real wire of any frontend, through a transparent proxy kernel")
    con.print(Text.assemble("traces go to ", (st.trace_dir, "bold"), "/<kernel-id>.jsonl", overflow="fold"))
    if st.env_trace:
        con.print(Text.assemble("and, as KIJ_TAP_TRACE says, to ", (st.env_trace, "bold"), overflow="fold"))
    con.print()
    if st.kernelspecs:
        con.print("tap kernelspecs installed (pick one in JupyterLab's launcher):")
        for name, wraps in sorted(st.kernelspecs.items()):
            con.print(Text(f"  {name:<20} → {wraps}"))
    else:
        con.print("no tap kernelspec is installed here; `kij tap install --kernel python3` makes one")
    con.print()
    if st.traces:
        live = [t for t in st.traces if t.live]
        con.print(Text(f"{len(st.traces)} trace(s) here, {len(live)} live:"))
        for info in st.traces[:5]:
            con.print(Text(f"  {describe(info)}", style="" if info.live else "dim", overflow="fold"))
        if len(st.traces) > 5:
            con.print(Text(f"  … and {len(st.traces) - 5} older", style="dim"))
    else:
        con.print("no traces yet: run a cell on a tap kernel")
    con.print(Text("kij tap --follow: the newest live one · kij tap prune: remove finished ones", style="dim"))


def render_installed(inst) -> None:
    from rich.text import Text

    con = console()
    con.print(Text.assemble("installed ", (inst.name, "bold"), f" ({inst.display_name!r}) → ", inst.path,
                            overflow="fold"))
    con.print(Text(f"it starts {inst.wraps} behind kij tap; remove it with `kij tap uninstall --kernel {inst.wraps}`",
                   style="dim"))


def render_removed(paths: list[str]) -> None:
    from rich.text import Text

    con = console()
    if not paths:
        con.print("no tap kernelspec to remove")
    for p in paths:
        con.print(Text(f"removed {p}", overflow="fold"))


def render_pruned(pruned, con=None, why: str = "") -> None:
    """What pruning removed: each trace, whose it was and when it was last written."""
    from rich.text import Text

    con = con or console()
    if not pruned:
        con.print("no finished trace to remove (a live trace is never removed)")
        return
    con.print(Text(f"removed {len(pruned)} finished trace(s){why}:", style="dim"))
    for info in pruned:
        con.print(Text(f"  {info.path} · kernel {info.kernel_id} · last written {clock(info.modified)}",
                       style="dim", overflow="fold"))


# --- the head of a tap trace, for `kij frames --load` ---------------------------------


def trace_intro(con, cap) -> None:
    """What a tap trace knows: the tap proxy, the kernel behind it (its own
    kernel_info_reply, if the trace holds one), and the proxy's sockets and ports."""
    from rich.table import Table
    from rich.text import Text

    from kij.trace import kernel_info_reply

    k, tap = cap.kernel, cap.tap
    con.print(Text(f"a kij tap trace: a frontend's own traffic, relayed and recorded by the tap proxy "
                   f"(PID {tap.get('proxy_pid')}, started {clock(tap.get('started'))})", overflow="fold"))
    bits = [f"{k.name} kernel behind the tap" if k else "the kernel behind the tap"]
    info = kernel_info_reply(cap.messages)
    if info is not None:
        c = info.content
        bits.append(f"{c.get('implementation')} {c.get('implementation_version')}")
        bits.append(f"protocol {c.get('protocol_version')} (its kernel_info_reply, #{info.seq})")
    if k and k.pid:
        bits.append(f"PID {k.pid}")
    con.print(Text(" · ".join(bits), overflow="fold"))
    if info is None:
        con.print(Text("(no kernel_info_reply in this trace: the kernel's implementation and protocol "
                       "version were not seen)", style="dim"))
    if k:
        con.print(Text(f"the frontend's connection file {k.connection_file}", style="dim", overflow="fold"))
        con.print(Text(f"the real kernel's connection file {tap.get('kernel_connection_file')}", style="dim",
                       overflow="fold"))
        con.print(Text.assemble("key ", (k.key_hint, "bold"), f" signs every message ({k.signature_scheme}); "
                                "the proxy checked each signature as it relayed it"))
    sockets = tap.get("sockets") or {}
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 2, 0, 0))
    for col in ("channel", "proxy, frontend side", "port", "proxy, kernel side", "port"):
        table.add_column(col, style="dim" if col != "channel" else None, no_wrap=True)
    ports, kernel_ports = (k.ports if k else {}), tap.get("kernel_ports") or {}
    for channel in ("shell", "iopub", "stdin", "control", "hb"):
        front, back = sockets.get(channel) or ("?", "?")
        table.add_row(channel, front, str(ports.get(channel, "")), back, str(kernel_ports.get(channel, "")))
    con.print()
    con.print(table)
    if not sockets:
        con.print(Text("(this trace predates the proxy writing down its socket types: ? = not recorded)",
                       style="dim"))
    for c in tap.get("continued_by") or []:
        con.print(Text(f"from #{c.get('from_seq')} on, a new tap proxy wrote this trace (a restart, or another "
                       f"kernel sharing it): {c.get('kernel')} kernel PID {c.get('kernel_pid')} · proxy PID "
                       f"{c.get('proxy_pid')} · since {clock(c.get('started'))}", style="bold", overflow="fold"))
    if tap.get("kernel_sees_identity"):
        con.print(Text(f"the real kernel sees one more routing frame first, the proxy's identity "
                       f"{tap['kernel_sees_identity']!r}; frames from <IDS|MSG> on are unchanged", style="dim"))


# --- following a trace ------------------------------------------------------------------


class Follower:
    """Draws follow events one by one; remembers msg_ids to draw parent links."""

    def __init__(self, frames: bool = False):
        self.con = console()
        self.frames = frames
        self.ids: dict[str, int] = {}
        self.t_of: dict[str, float] = {}  # msg_id → its t_ms
        self.said_legend = False
        self.said_heading = False

    def __call__(self, event) -> None:
        getattr(self, f"_{event.kind}")(event)

    def _pruned(self, event) -> None:
        self._heading()
        render_pruned(event.pruned, self.con, why=" not written for a week")

    def _waiting(self, event) -> None:
        from rich.text import Text

        self._heading()
        if event.info is not None:  # following one FILE whose tap exited
            self.con.print(Text("waiting for a tap to take this trace up again (a restart does); Ctrl-C ends",
                                style="dim"))
            return
        self.con.print(Text(f"waiting for a live trace in {event.path} — start a tap kernel "
                            "(JupyterLab: \"Python 3 (kij tap)\")", style="dim", overflow="fold"))
        last = event.newest_finished
        if last is not None:
            self.con.print(Text(f"the newest trace there is a recording: {describe(last)}", style="dim",
                                overflow="fold"))
            self.con.print(Text(f"replay it: kij tap --follow {last.path}", style="dim", overflow="fold"))

    def _heading(self) -> None:
        if not self.said_heading:
            self.said_heading = True
            heading(self.con, "kij tap --follow", "your frontend's wire, live")

    def _file(self, event) -> None:
        from rich.rule import Rule
        from rich.text import Text

        self._heading()
        self.ids.clear()
        self.t_of.clear()
        self.said_legend = False
        info = event.info
        title = "watching" if info.live else "replaying a recording:"
        self.con.print(Rule(Text(f"{title} {event.path}", style="bold"), align="left"))
        self.con.print(Text(describe(info), style="bold" if info.live else "yellow", overflow="fold"))
        if not info.live:
            self.con.print(Text("this trace's tap has exited: nothing below is happening now", style="yellow"))

    def _caught_up(self, event) -> None:
        from rich.text import Text

        self.con.print(Text(f"── recorded before you started following; live from here "
                            f"({clock(time.time())}) ──", style="dim"))

    def _ended(self, event) -> None:
        from rich.text import Text

        info = event.info
        self.con.print(Text(f"── end of the trace: its tap exited; last written {clock(info.modified)} ──",
                            style="dim", overflow="fold"))

    def _head(self, event) -> None:
        from rich.text import Text

        k = event.head.get("kernel") or {}
        tap = event.head.get("tap") or {}
        bits = [f"{k.get('name')} kernel behind the tap"]
        if k.get("pid"):
            bits.append(f"PID {k['pid']}")
        if tap.get("proxy_pid"):
            bits.append(f"proxy PID {tap['proxy_pid']}")
        self.con.print(Text(" · ".join(bits)))
        self.con.print(Text(f"the frontend's connection file {k.get('connection_file')}", style="dim",
                            overflow="fold"))
        self.con.print(Text.assemble("key ", (str(k.get("key_hint")), "bold"),
                                     f" signs every message ({k.get('signature_scheme')}); "
                                     "the trace never holds the key itself"))

    def _continued(self, event) -> None:
        from rich.text import Text

        c = event.head
        self.con.print(Text(f"── from here a new tap proxy writes this trace (a restart, or another kernel "
                            f"sharing it): {c.get('kernel')} kernel PID {c.get('kernel_pid')} · proxy PID "
                            f"{c.get('proxy_pid')} · since {clock(c.get('started'))} ──", style="bold",
                            overflow="fold"))

    def _legend(self, checked_here: bool) -> None:
        from rich.text import Text

        if checked_here:
            text = ("✓/✗: kij tap --follow recomputed each HMAC itself, with the key from --connection-file.")
        else:
            text = ("✓/✗: the tap proxy recomputed each HMAC with the connection key as it relayed the "
                    "message; --follow cannot (the key is not in the trace) unless you pass --connection-file.")
        self.con.print(Text(text, style="dim"))
        when = "t: seconds since the trace began (its first tap proxy started)"
        if self.frames:
            when += ("; +ms above a message's frames: since the request it answers, when the trace shows it, "
                     "else since the trace began")
        self.con.print(Text(when + ".", style="dim"))
        self.con.print(Text(" t (s)    #    ch      type", style="dim"))

    def _record(self, event) -> None:
        rec = event.record
        if not self.said_legend:
            self.said_legend = True
            self._legend(event.checked_here)
        if rec.msg_id:
            self.ids[rec.msg_id] = rec.seq  # the latest: some clients reuse msg_ids across sessions
        arrow = ARROW.get(rec.direction, "?")
        what = rec.msg_type or _unnamed(rec)
        gist = summary(rec)
        if rec.msg_type == "status":
            what, gist = f"status {gist}", ""
        elif what in ("subscribe", "unsubscribe"):
            gist = (rec.note or "").split(":", 1)[0].split(" ", 1)[-1]
        elif rec.note and not rec.msg_type and rec.channel != "hb":
            gist = rec.note
        mark, mark_style = {True: ("✓ ", "green"), False: ("✗ ", "bold red")}.get(rec.signature_valid, ("  ", ""))
        link = f"↳#{self.ids[rec.parent_msg_id]} " if rec.parent_msg_id in self.ids else (
            f"↳{short_id(rec.parent_msg_id)} " if rec.parent_msg_id else "")
        _line(self.con,
              (f"{rec.t_ms / 1000:>7.3f} ", "dim"),
              (f"#{rec.seq:<4}{arrow} {rec.channel:<7} ", "bold" if rec.direction == "to_kernel" else ""),
              (mark, mark_style), (f"{what:<19} ", ""), (link, "blue"), (gist, "dim"))
        if self.frames and rec.channel != "hb":
            _frames(self.con, rec, self.ids, self._t0_of(rec))
        if rec.msg_id:
            self.t_of[rec.msg_id] = rec.t_ms

    def _t0_of(self, rec) -> float:
        """The time the offset in a message's frames counts from: the request it
        answers, when the trace showed it; else the trace's beginning (t_ms 0)."""
        return self.t_of.get(rec.parent_msg_id, 0.0) if rec.parent_msg_id else 0.0
