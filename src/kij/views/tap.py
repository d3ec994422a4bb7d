"""Draws `kij tap`: where the traces are, and a trace line by line as it grows.

The live lines are the `kij frames` timeline (direction, channel, type, parent link,
gist) with time since the trace began; `--frames` adds every message's frames, drawn
exactly as `kij frames` draws them. Like every view it works from records alone.
"""

from __future__ import annotations

from kij.views import console, heading
from kij.views.frames import _frames, _line, _unnamed, short_id, summary

ARROW = {"to_kernel": "→", "from_kernel": "←"}


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
        con.print(Text(f"{len(st.traces)} trace(s); newest {st.traces[0]}", overflow="fold"))
    else:
        con.print("no traces yet: run a cell on a tap kernel")
    con.print(Text("watch it live: kij tap --follow", style="dim"))


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


class Follower:
    """Draws follow events one by one; remembers msg_ids to draw parent links."""

    def __init__(self, frames: bool = False):
        self.con = console()
        self.frames = frames
        self.ids: dict[str, int] = {}
        self.said_legend = False

    def __call__(self, event) -> None:
        getattr(self, f"_{event.kind}")(event)

    def _waiting(self, event) -> None:
        from rich.text import Text

        heading(self.con, "kij tap --follow", "your frontend's wire, live")
        self.con.print(Text(f"waiting for a trace in {event.path} — start a tap kernel "
                            "(JupyterLab: \"Python 3 (kij tap)\")", style="dim", overflow="fold"))

    def _file(self, event) -> None:
        from rich.rule import Rule
        from rich.text import Text

        self.ids.clear()
        self.con.print(Rule(Text(f"following {event.path}", style="bold"), align="left"))

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

    def _legend(self, checked_here: bool) -> None:
        from rich.text import Text

        if checked_here:
            text = ("✓/✗: kij tap --follow recomputed each HMAC itself, with the key from --connection-file.")
        else:
            text = ("✓/✗: the tap proxy recomputed each HMAC with the connection key as it relayed the "
                    "message; --follow cannot (the key is not in the trace) unless you pass --connection-file.")
        self.con.print(Text(text, style="dim"))
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
            _frames(self.con, rec, self.ids, rec.t_ms)
