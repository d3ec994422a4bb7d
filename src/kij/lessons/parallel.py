"""`kij parallel` — engines are kernels: a real ipyparallel cluster, and its wire.

What the learner should feel: the step past one machine is not a new kind of thing.
An ipyparallel engine is an IPython kernel — its kernel_info says so, its class is a
subclass of ipykernel's — that binds nothing: it dials *out* to a controller, says
registration_request, gets an id back, and from then on answers the same signed
messages any kernel does, routed through the controller's schedulers. A function
applied on every engine is an apply_request whose pickled function and arguments
ride as buffers after the signed frames; the result comes back the same way, and the
routing identity in front says which engine answered. Bind one engine's sockets and
the very client code `kij frames` runs on any kernel runs on it.

kij starts the controller and engines with ipyparallel's own API in a private
profile directory and stops all of it on every path; engines register through kij's
relay, so the handshake is captured, not described. With --profile/--profile-dir kij
attaches to a cluster someone else started, says first what it will run there (two
small functions; they leave no names behind), never binds its engines' ports and
never stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kij import cluster as clusters
from kij import trace
from kij.cluster import Cluster, ClientWire, hear_heartbeats, result_of, sockets_of
from kij.errors import KernelFault, KijError, UserError
from kij.kernel import attached, timed
from kij.sniffer import Sniffed, Sniffer
from kij.trace import Act, Capture, KernelFacts

TAKEAWAY = ("An ipyparallel engine is an IPython kernel that dials out to a controller: "
            "apply_request carries pickled code as buffers, and bound, it answers kij frames like any kernel.")
MAP_ITEMS = list(range(6))
HEARTBEATS = 2  # pings kij listens for on the Hub's hb_ping PUB
MAX_ENGINES = 16
DEFAULT_ENGINES = 2


# --- what runs on the engines ---------------------------------------------------------


def portable(f: Callable) -> Callable:
    """Run f on an engine that has no kij: ipyparallel pickles a function's code, but
    an engine imports the module it was defined in for its globals — unless that module
    is __main__ (then it uses its own). These functions import what they need inside."""
    f.__module__ = "__main__"
    return f


@portable
def whoami() -> dict:
    """Applied on every engine: where it runs, and what its kernel is."""
    import os
    import socket

    from IPython import get_ipython

    kernel = get_ipython().kernel  # the engine's own IPython shell, and its kernel
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "kernel_class": [f"{c.__module__}.{c.__qualname__}" for c in type(kernel).__mro__[:3]]}


@portable
def square(x: int) -> tuple:
    """Mapped over the load-balanced view: x², and which process computed it."""
    import os

    return x * x, os.getpid()


@portable
def bind() -> int:
    """Applied on one engine: open its sockets as a kernel's (ipyparallel.bind_kernel)."""
    import os

    import ipyparallel

    ipyparallel.bind_kernel()
    return os.getpid()


# --- the result ------------------------------------------------------------------------


@dataclass
class PortUse:
    port: int
    name: str  # what the port is for (the controller's), or who connects to it
    peers: list[str] = field(default_factory=list)  # which of the processes seen connect to it
    loopback: bool = False  # bound to 127.0.0.1 only


@dataclass
class Process:
    role: str  # controller | engine N | engine N's nanny
    pid: int
    listening: list[PortUse] = field(default_factory=list)
    connects_to: list[PortUse] = field(default_factory=list)


@dataclass
class EngineFacts:
    id: int
    uuid: str
    host: str = ""
    pid: int | None = None
    implementation: str = ""
    implementation_version: str = ""
    protocol_version: str = ""
    kernel_class: list[str] = field(default_factory=list)
    applied: bool = False


@dataclass
class Result:
    owned: bool
    profile_dir: str
    cluster_id: str
    boot_ms: float
    engines: list[EngineFacts]
    capture: Capture
    topology: list[Process] = field(default_factory=list)
    topology_note: str = ""
    bound_topology: list[Process] = field(default_factory=list)
    map_results: list[dict] = field(default_factory=list)  # item, value, engine
    bound_connection_file: str = ""
    bound_kernel: KernelFacts | None = None
    notice: str = ""
    takeaway: str = TAKEAWAY
    elapsed_ms: float = 0.0


# --- the lesson --------------------------------------------------------------------------


class Lesson:
    """The steps on one cluster, recorded as acts over one capture."""

    def __init__(self, cluster: Cluster, timeout: float, progress: Callable[[str], None] | None = None):
        self.cluster = cluster
        self.timeout = timeout
        self.say = progress or (lambda text: None)
        self.capture = Capture(session="", takeaway=TAKEAWAY)
        self.act: str | None = None
        self._recorded = 0
        self.notes: dict[int, str] = {}

    def watchdog(self) -> Callable[[], None]:
        return lambda: self.cluster.check_alive(f"during the {self.act} step")

    def begin(self, name: str, title: str) -> Act:
        self.flush()
        self.act = name
        self.say(title.split(":", 1)[-1].strip() + " …")
        act = Act(name=name, title=title)
        self.capture.acts.append(act)
        return act

    def flush(self) -> None:
        captured = self.cluster.recorder.capture
        for c in captured[self._recorded:]:
            seq = len(self.capture.messages)
            self.capture.messages.append(trace.record_of(c, seq, self.act, self.notes.get(id(c))))
        self._recorded = len(captured)

    def records(self, act: str) -> list[trace.Record]:
        self.flush()
        return [r for r in self.capture.messages if r.act == act]

    # -- the steps --

    def registration(self) -> None:
        self.act = "registration"  # what the relay captured while the cluster started belongs here
        act = self.begin("registration", "registration: each engine dials the Hub and asks for an id")
        if not self.cluster.owned:
            act.outcome = ("skipped: this cluster's engines registered before kij came; `kij parallel` without "
                           "--profile captures the handshake on a cluster of its own")
            return
        act.outcome = registration_outcome(self.records("registration"), self.cluster.relay_port)

    def heartbeat(self) -> None:
        act = self.begin("heartbeat", "heartbeat: the Hub pings, every engine's Heart echoes")
        period = hb_period(self.capture.messages)
        wait = (period or 3000) / 1000 * (HEARTBEATS + 1)
        heard = hear_heartbeats(self.cluster, HEARTBEATS, wait)
        act.ok = bool(heard)
        act.outcome = heartbeat_outcome(heard, period)

    def kernel_info(self, wire: ClientWire, engines: list[EngineFacts]) -> None:
        act = self.begin("kernel_info", "mux: kernel_info_request to each engine, by its identity")
        requests = {e.id: wire.send("mux", "kernel_info_request", {}, ident=e.uuid) for e in engines}
        replies = wire.replies(list(requests.values()), self.timeout, self.watchdog())
        for e in engines:
            info = replies[requests[e.id].msg_id].content
            e.implementation = info.get("implementation", "")
            e.implementation_version = info.get("implementation_version", "")
            e.protocol_version = info.get("protocol_version", "")
        kinds = sorted({f"{e.implementation} {e.implementation_version}, protocol {e.protocol_version}" for e in engines})
        act.outcome = (f"{len(engines)} kernel_info_reply, one per engine, each from the engine's identity "
                       f"through the mux scheduler: {'; '.join(kinds)}")

    def apply_all(self, wire: ClientWire, engines: list[EngineFacts]) -> None:
        act = self.begin("apply", "mux: whoami() applied on every engine (what a DirectView sends)")
        requests = {e.id: wire.apply("mux", whoami, ident=e.uuid) for e in engines}
        for e in engines:
            self.notes[id(requests[e.id])] = f"to engine {e.id}: kij puts its identity in front, the mux routes on it"
        replies = wire.replies(list(requests.values()), self.timeout, self.watchdog())
        for e in engines:
            reply = replies[requests[e.id].msg_id]
            facts = result_of(reply)
            e.host, e.pid, e.kernel_class, e.applied = facts["host"], facts["pid"], facts["kernel_class"], True
            self.cluster.engines[engines.index(e)].pid = e.pid if e.host == socket.gethostname() else None
            self.notes[id(reply)] = f"from engine {e.id}: its identity is the frame in front"
        self.flush()
        act.request_msg_id = requests[engines[0].id].msg_id
        act.outcome = apply_outcome(self.records("apply"), engines)

    def map(self, wire: ClientWire, engines: list[EngineFacts]) -> list[dict]:
        act = self.begin("map", f"task: square() mapped over {MAP_ITEMS[0]}…{MAP_ITEMS[-1]}, load-balanced")
        requests = [wire.apply("task", square, (x,)) for x in MAP_ITEMS]
        replies = wire.replies(requests, self.timeout, self.watchdog())
        by_uuid = {e.uuid: e.id for e in engines}
        results = []
        for x, req in zip(MAP_ITEMS, requests):
            reply = replies[req.msg_id]
            value, pid = result_of(reply)
            engine = by_uuid.get((reply.message.metadata or {}).get("engine"))
            results.append({"item": x, "value": value, "engine": engine, "pid": pid})
        act.request_msg_id = requests[0].msg_id
        act.outcome = map_outcome(results, engines)
        return results

    def bind(self, wire: ClientWire, engine: EngineFacts) -> Path:
        act = self.begin("bind", f"mux: bind() on engine {engine.id} — ipyparallel.bind_kernel opens its ports")
        req = wire.apply("mux", bind, ident=engine.uuid)
        reply = wire.replies([req], self.timeout, self.watchdog())[req.msg_id]
        pid = result_of(reply)
        path = Path(self.cluster.profile_dir) / "security" / f"kernel-{pid}.json"
        if not path.exists():
            raise KernelFault(f"engine {engine.id} bound its kernel but wrote no {path.name} in the profile's "
                              "security directory")
        act.request_msg_id = req.msg_id
        act.outcome = (f"engine {engine.id} (PID {pid}) now listens as a kernel does; its connection file is "
                       f"{path.name} in the profile's security directory")
        return path

    def frames_on(self, path: Path, engine: EngineFacts, connected: Callable[[], None]) -> KernelFacts:
        """kij frames' own steps (control, heartbeat, execute) on the bound engine, with
        kij frames' own client code; its records join this capture. `connected` runs
        while kij's sockets are still on the engine."""
        from kij.lessons import frames

        self.flush()
        with attached(path, timeout=self.timeout) as kernel, Sniffer(kernel.connection_info) as sn:
            sub = Capture(identity=sn.identity.decode(), session=sn.session)
            steps = frames.Lesson(kernel, sn, sub, self.timeout)
            try:
                info = steps.control()
                steps.heartbeat()
                steps.execute(frames.DEFAULT_CODE["python"].format(x="x"))
                connected()
            finally:
                steps.flush()
                self._take(sub, offset_ms=(sn.opened_at - self.cluster.recorder.t0) * 1000)
            facts = frames.kernel_facts(kernel, info, existing=True)
        facts.name, facts.pid = f"engine {engine.id}", engine.pid
        return facts

    def _take(self, sub: Capture, offset_ms: float) -> None:
        """Another capture's acts and records, appended (renamed engine:…, renumbered)."""
        start = len(self.capture.messages)
        for act in sub.acts:
            act.name = f"engine:{act.name}"
            act.title = f"bound engine · {act.title}"
            self.capture.acts.append(act)
        for r in sub.messages:
            r.seq += start
            r.t_ms = round(r.t_ms + offset_ms, 3)
            r.act = f"engine:{r.act}"
            self.capture.messages.append(r)
        self._recorded = len(self.cluster.recorder.capture)


# --- what each step proved, from its records --------------------------------------------


def registration_outcome(records: list[trace.Record], relay_port: int | None) -> str:
    requests = [r for r in records if r.msg_type == "registration_request"]
    replies = [r for r in records if r.msg_type == "registration_reply"]
    done = [r for r in records if r.msg_type == "registration_notification"]
    ids = [str((r.content or {}).get("id")) for r in replies]
    return (f"{len(requests)} registration_request passed through kij's relay (port {relay_port}) unchanged; "
            f"the Hub's {len(replies)} registration_reply gave ids {', '.join(ids)}; "
            f"{len(done)} registration_notification followed on the Hub's notification PUB — an engine "
            "counts as registered only once its heartbeat has answered")


def hb_period(records: list[trace.Record]) -> int | None:
    for r in records:
        if r.msg_type == "registration_reply":
            return (r.content or {}).get("hb_period")
    return None


def heartbeat_outcome(heard: list[Sniffed], period: int | None) -> str:
    if not heard:
        return "kij's SUB on hb_ping heard no ping within its wait"
    said = f"kij's own SUB on the Hub's hb_ping PUB heard {len(heard)} ping{'s' if len(heard) > 1 else ''}"
    if len(heard) > 1:
        said += f", {(heard[-1].t - heard[0].t) * 1000 / (len(heard) - 1):.0f} ms apart"
    if period:
        said += f" (the registration_reply set hb_period {period} ms)"
    return (said + "; each engine's Heart sends them back to hb_pong, a ROUTER on the controller — kij cannot "
            "hear those, only the Hub can")


def apply_outcome(records: list[trace.Record], engines: list[EngineFacts]) -> str:
    req = next(r for r in records if r.msg_type == "apply_request")
    rep = next(r for r in records if r.msg_type == "apply_reply")
    classes = sorted({" → ".join(c.rsplit(".", 1)[-1] for c in e.kernel_class[:2]) for e in engines})
    return (f"each apply_request carried {req.buffers} buffers after its signed frames (the pickled function, "
            f"its arguments); each apply_reply {rep.buffers} (the result), behind the answering engine's identity. "
            f"Every engine's kernel is {'; '.join(classes)}")


def map_outcome(results: list[dict], engines: list[EngineFacts]) -> str:
    counts = {e.id: sum(1 for r in results if r["engine"] == e.id) for e in engines}
    spread = ", ".join(f"engine {i}: {n}" for i, n in counts.items())
    pids = {e.id: e.pid for e in engines}
    agree = all(r["pid"] == pids.get(r["engine"]) for r in results)
    said = (f"{len(results)} apply_requests went to the task scheduler with no engine named; it chose "
            f"({spread}); each apply_reply's metadata names the engine that ran it")
    return said + ("; the PID square() returned agrees every time" if agree
                   else "; but the PID square() returned does NOT always match that engine's")


# --- the topology, from the operating system ---------------------------------------------


def topology(cluster: Cluster, engines: list[EngineFacts], names: dict[int, str] | None = None
             ) -> tuple[list[Process], str]:
    """Who listens and who connects, read from each local process's TCP sockets."""
    names = {**clusters.port_names(cluster), **(names or {})}
    here = socket.gethostname()
    local = [e for e in engines if e.pid and e.host == here]
    procs: list[tuple[str, int]] = [("kij", os.getpid())]
    if cluster.controller_pid:
        procs.append(("controller", cluster.controller_pid))
        procs += [("controller's scheduler", pid) for pid in _children(cluster.controller_pid)]
    for e in local:
        procs.append((f"engine {e.id}", e.pid))
        procs += [(f"engine {e.id}'s nanny", pid) for pid in _children(e.pid)]
    seen = {pid: sockets_of(pid) for _, pid in procs}
    roles = {pid: role for role, pid in procs}
    drawn = [_process(role, pid, seen, roles, names) for role, pid in procs if seen.get(pid)]
    note = ""
    if len(local) < len(engines):
        note = f"{len(engines) - len(local)} engine(s) run on another host or are not readable here: not shown"
    return drawn, note


def _children(pid: int) -> list[int]:
    import psutil

    with contextlib.suppress(psutil.Error):
        return [c.pid for c in psutil.Process(pid).children()]
    return []


def _process(role: str, pid: int, seen: dict, roles: dict, names: dict[int, str]) -> Process:
    mine = seen[pid]
    peers = {port: sorted({roles[p] for p, s in seen.items() if s and p != pid and port in s.connected_to}
                          | ({role} if port in mine.connected_to else set()))
             for port in mine.listening}
    return Process(
        role=role, pid=pid,
        listening=[PortUse(port, names.get(port, "?"), peers[port], port in mine.loopback) for port in mine.listening],
        connects_to=[PortUse(port, names.get(port) or _owner(port, seen, roles)) for port in mine.connected_to
                     if port not in mine.listening],
    )


def _owner(port: int, seen: dict, roles: dict) -> str:
    for pid, s in seen.items():
        if s and port in s.listening:
            return f"{roles[pid]}'s port"
    return "?"


# --- run ---------------------------------------------------------------------------------


@timed
def run(engines: int | None = None, profile: str | None = None, profile_dir: str | None = None, timeout: float = 30.0,
        progress: Callable[[str], None] | None = None, tell: Callable[[str], None] | None = None) -> Result:
    """Start a cluster of `engines` (or attach to --profile/--profile-dir's) and run the
    steps on it. A step that fails raises with the steps so far as `.capture`."""
    tell = tell or (lambda text: None)
    owned = not (profile or profile_dir)
    engines = engines or DEFAULT_ENGINES
    with (clusters.started(engines, on_progress=progress, timeout=max(timeout, clusters.START_TIMEOUT)) if owned
          else clusters.attached(profile, profile_dir, timeout=timeout)) as cluster:
        lesson = Lesson(cluster, timeout, progress)
        try:
            return _steps(lesson, cluster, tell)
        except KijError as exc:
            lesson.flush()
            lesson.capture.takeaway = ""
            exc.capture = lesson.capture
            raise


def _steps(lesson: Lesson, cluster: Cluster, tell: Callable[[str], None]) -> Result:
    engines = [EngineFacts(id=e.id, uuid=e.uuid) for e in cluster.engines]
    if not engines:
        raise KernelFault(f"the cluster in {cluster.profile_dir} has no engines registered")
    result = Result(owned=cluster.owned, profile_dir=cluster.profile_dir, cluster_id=cluster.cluster_id,
                    boot_ms=cluster.boot_ms, engines=engines, capture=lesson.capture)
    if not cluster.owned:
        result.notice = notice(len(engines))
        tell(result.notice)
    lesson.registration()
    lesson.heartbeat()
    with ClientWire(cluster) as wire:
        lesson.capture.identity, lesson.capture.session = wire.identity.decode(), wire.session
        lesson.kernel_info(wire, engines)
        lesson.apply_all(wire, engines)
        result.map_results = lesson.map(wire, engines)
        result.topology, result.topology_note = topology(cluster, engines)
        if cluster.owned:
            path = lesson.bind(wire, engines[0])
            result.bound_connection_file = str(path)

            def snapshot() -> None:  # while kij's sniffer is on the bound engine
                info = json.loads(path.read_text())
                names = {info[f"{ch}_port"]: f"bound {ch}" for ch in ("shell", "iopub", "stdin", "control", "hb")}
                result.bound_topology = [p for p in topology(cluster, engines, names)[0] if p.role == "engine 0"]

            result.bound_kernel = lesson.frames_on(path, engines[0], snapshot)
        else:
            act = lesson.begin("bind", "bind_kernel: an engine's ports opened as a kernel's")
            act.outcome = ("skipped: bind_kernel opens ports on an engine for good, and this cluster is not "
                           "kij's; `kij parallel` without --profile shows it on kij's own cluster")
    lesson.flush()
    return result


def notice(n: int) -> str:
    return (f"this cluster is not kij's. kij will send kernel_info_request to its {n} engine(s) and apply two "
            "small functions there (whoami on each, square mapped over the load-balanced view); apply leaves "
            "no names behind. kij never binds an engine's ports, never stops an engine or the controller.")


def check_flags(engines: int | None, profile: str | None, profile_dir: str | None, save: str | None) -> None:
    """Refused before anything starts."""
    if profile and profile_dir:
        raise UserError("--profile and --profile-dir both name a cluster: give one")
    if (profile or profile_dir) and engines is not None:
        raise UserError("--engines starts engines of kij's own; with --profile/--profile-dir kij uses the "
                        "cluster's engines as they are")
    if engines is not None and not 1 <= engines <= MAX_ENGINES:
        raise UserError(f"--engines must be between 1 and {MAX_ENGINES}, not {engines}")
    if profile or profile_dir:
        clusters.find_profile(profile, profile_dir)
    if save:
        trace.check_writable(save)


def save(result: Result, path: str) -> None:
    trace.save(result.capture, path)
