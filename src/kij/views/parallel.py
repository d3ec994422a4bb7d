"""Draws `kij parallel`: the cluster, its engines as kernels, who dials whom, and the
wire of each step as `kij frames` draws it.

`render(result)` returns a rich renderable and prints nothing; `compact=True` (the
tour) keeps it to about 60 lines at 80 columns. Timelines, a message's frames and a
step's verdict are kij.views.frames' own; only what is particular to a cluster lives
here: the engines table, the topology read from the processes' sockets, which
messages get their frames drawn, and the map's results by engine. `progress` is the
spinner's words while the cluster starts; `notice` what kij says on stderr before it
runs anything on a cluster it did not start.
"""

from __future__ import annotations

from rich.console import Group
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from kij.lessons.parallel import Process, Result
from kij.trace import Act
from kij.views import frames as frames_view
from kij.views.parts import ByWidth, blank, fact_grid, heading, plain_table, takeaway


def _intro(r: Result) -> list:
    n = len(r.engines)
    if r.owned:
        said = (f"kij's own cluster: a controller and {n} engine{'s' if n != 1 else ''} started with "
                f"ipyparallel.Cluster in a private profile directory (removed afterwards), ready in "
                f"{r.boot_ms / 1000:.1f} s; the engines registered through kij's relay.")
    else:
        said = f"an existing cluster in {r.profile_dir} ({n} engines): kij leaves it running."
    parts = [Text(said)]
    if r.notice and not r.owned:
        parts.append(Text(f"Before it began, kij said: {r.notice}", style="yellow"))
    parts.append(Text("kij's own sockets, signing with the controller's key: DEALERs on mux and task, SUBs on "
                      "notification and hb_ping. → toward the engines, ← from them.", style="dim"))
    return parts


def _engines(r: Result) -> ByWidth:
    """A table on a wide terminal; two lines per engine on a narrow one."""
    return ByWidth(lambda width: _engine_table(r) if width >= 72 else Group(*_engine_lines(r)))


def _class_line(e) -> str:
    names = [c.rsplit(".", 1)[-1] for c in e.kernel_class[:2]]
    return f"{names[0]}({names[1]})" if len(names) == 2 else "".join(names) or "?"


def _engine_lines(r: Result) -> list[Text]:
    drawn = []
    for e in r.engines:
        drawn.append(Text.assemble((f"engine {e.id}", "bold"), f" · PID {e.pid or '?'} · {e.host or '?'}"))
        drawn.append(Text(f"  {e.implementation} {e.implementation_version}, protocol {e.protocol_version} · "
                          f"{_class_line(e)}", style="dim", overflow="fold"))
    return drawn


def _engine_table(r: Result) -> Table:
    table = plain_table()
    for col in ("engine", "PID", "host", "kernel_info", "its kernel's class(base)"):
        table.add_column(col, style="dim" if col != "engine" else "bold", overflow="fold")
    for e in r.engines:
        table.add_row(str(e.id), str(e.pid or "?"), e.host or "?",
                      f"{e.implementation} {e.implementation_version}, {e.protocol_version}", _class_line(e))
    return table


def _port(p) -> str:
    where = "127.0.0.1" if p.loopback else "*"
    return f"{where}:{p.port}"


def topology_lines(procs: list[Process]) -> list[Text]:
    """The controller's processes as one; each engine: what it listens on, and whom it dials."""
    controller = [p for p in procs if p.role.startswith("controller")]
    drawn = []
    if controller:
        names = sorted({u.name for p in controller for u in p.listening if u.name != "?"})
        pids = ", ".join(str(p.pid) for p in controller)
        drawn.append(Text.assemble(("controller", "bold"), f" (PIDs {pids}) listens: {', '.join(names)}",
                                   overflow="fold"))
    for p in procs:
        if p.role.startswith("controller") or p.role == "kij":
            continue
        out = ", ".join(u.name for u in p.connects_to)
        drawn.append(Text.assemble((p.role, "bold"), f" (PID {p.pid}) dials out to: {out or 'nothing'}",
                                   overflow="fold"))
        if not p.listening:
            drawn.append(Text("    listens on nothing", style="dim"))
        for u in p.listening:
            name = f" {u.name}" if u.name != "?" else ""
            drawn.append(Text(f"    listens on {_port(u)}{name}, dialled by {', '.join(u.peers) or 'no one seen'}",
                              style="dim", overflow="fold"))
    return drawn


def topology_verdict(procs: list[Process]) -> Text | None:
    """Computed: does anything but an engine itself (or its own nanny) dial an engine?"""
    engines = [p for p in procs if p.role.startswith("engine ") and "nanny" not in p.role]
    if not engines:
        return None
    strangers = []
    for e in engines:
        own = {e.role, f"{e.role}'s nanny"}
        strangers += [(e.role, u) for u in e.listening if set(u.peers) - own]
    if strangers:
        return Text("✗ " + "; ".join(f"{role}'s {_port(u)} is dialled by {', '.join(u.peers)}"
                                      for role, u in strangers), style="bold red")
    loopback = all(u.loopback for e in engines for u in e.listening)
    return Text.assemble(("✓ ", "bold green"), "every connection between an engine and the controller was "
                         "opened by the engine; what an engine listens on, only it and its own nanny dial"
                         + (" (on loopback only: helpers, not a door for the controller)" if loopback else ""))


# kij tour: these steps are kij frames' own, shown in full by kij frames itself
COMPACT_LEFT_OUT = ("kernel_info", "engine:control", "engine:heartbeat", "heartbeat")


def _detailed(act: Act, rec, compact: bool) -> bool:
    """Which messages get their frames drawn."""
    if compact:
        return act.name == "apply" and rec.msg_type == "apply_request"
    if act.name == "registration":
        return rec.msg_type in ("registration_request", "registration_reply")
    if act.name == "apply":
        return rec.msg_type in ("apply_request", "apply_reply")
    return act.name == "engine:execute" and rec.msg_type == "execute_request"


def _step(r: Result, number: int, act: Act, ids: dict, compact: bool, width: int) -> list:
    records = [m for m in r.capture.messages if m.act == act.name]
    drawn: list = [blank(), Rule(Text(f"{number} · {act.title}", style="bold"), align="left")]
    if not compact or act.name == "apply":
        drawn += frames_view.timeline(records, ids, width)
    shown = set()
    for rec in records:
        key = (rec.msg_type, rec.direction)
        if _detailed(act, rec, compact) and key not in shown:  # one of each kind
            shown.add(key)
            drawn += [blank(), frames_view.message_frames(rec, ids, records[0].t_ms)]
    if act.name == "map":
        drawn.append(_map(r))
    drawn += frames_view.outcome(act)
    if act.name == "map" and r.topology:
        drawn += _topology(r, compact)
    if act.name == "bind" and r.bound_topology and not compact:
        drawn += [Text("engine 0 now, from its sockets:", style="dim"), *topology_lines(r.bound_topology)]
    return drawn


def _map(r: Result) -> Text:
    by_engine: dict = {}
    for m in r.map_results:
        by_engine.setdefault(m["engine"], []).append(f"{m['item']}→{m['value']}")
    return Text("results by engine: " + " · ".join(f"engine {e}: {', '.join(v)}" for e, v in by_engine.items()),
                overflow="fold")


def _topology(r: Result, compact: bool) -> list:
    drawn: list = [blank(), Rule(Text("topology: who listens, who dials (read from each process's TCP sockets)",
                                      style="bold"), align="left")]
    if not compact:
        drawn += topology_lines(r.topology)
    if r.topology_note:
        drawn.append(Text(r.topology_note, style="dim"))
    verdict = topology_verdict(r.topology)
    if verdict is not None:
        drawn.append(verdict)
    return drawn


def render(r: Result, compact: bool = False) -> ByWidth:
    """The whole lesson; compact (kij tour): one message's frames, no per-process topology."""
    return ByWidth(lambda width: Group(*_page(r, compact, width)))


def _page(r: Result, compact: bool, width: int) -> list:
    subtitle = "engines are kernels: a real cluster, and its wire"
    drawn: list = [heading("kij parallel", subtitle), *_intro(r), blank(), _engines(r)]
    ids = frames_view.message_ids(r.capture.messages)
    acts = [a for a in r.capture.acts if not (compact and a.name in COMPACT_LEFT_OUT)]
    for number, act in enumerate(acts, 1):
        drawn += _step(r, number, act, ids, compact, width)
    if r.bound_kernel is not None and not compact:
        k = r.bound_kernel
        drawn += [blank(), fact_grid([("bound", f"{k.connection_file}"),
                                      ("ports", " · ".join(f"{ch} {p}" for ch, p in k.ports.items()))])]
    if compact:
        drawn.append(Text("\nevery frame, the topology per process, the bound engine: kij parallel", style="dim"))
    if r.capture.takeaway:
        drawn.append(takeaway(r.capture.takeaway))
    return drawn


def render_compact(r: Result) -> ByWidth:
    return render(r, compact=True)


def progress(text: str) -> str:
    """The spinner's words while the cluster starts."""
    return f"kij parallel: {text}"


def notice(text: str) -> Text:
    return frames_view.notice(text)
