"""An ipyparallel cluster kij started or attached to: the one home for it.

A cluster is a controller (the Hub and its schedulers: mux, task, broadcast, control,
iopub, notification, heartbeat) and engines — IPython kernels that bind nothing and
connect *out* to the controller. kij reaches it the way it reaches a kernel: with its
own ZeroMQ sockets, from the ports and key in the controller's connection files.

    with started(2, on_progress=...) as cluster:      # a controller + 2 engines, private
        wire = ClientWire(cluster)                     # kij's DEALERs on mux and task
        req = wire.apply("mux", f, (), ident=uuid)     # an apply_request, signed by kij

    with attached(profile_dir=...) as cluster:         # someone else's: never stopped

`started` starts them with ipyparallel's own API (`ipyparallel.Cluster`) in a private
profile directory (a temporary directory, removed on every path) and stops the
controller and every engine on every path: normal end, exception, Ctrl-C, SIGTERM,
an engine that died. Engines register through kij's `RegistrationRelay`, which
passes the registration_request/reply through untouched (same routing identity) and
records them — the handshake, captured. `attached` reads an existing profile's
client connection file, asks the Hub which engines it has (connection_request) and
never stops anything.

Everything captured goes into one `Recorder` (kij.sniffer's `sniffed` decodes each
message and checks its signature), so one timeline spans registration, heartbeat
and the work. Processes' sockets are read with psutil (`sockets_of`): proof, not a
sentence, that an engine listens on nothing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from kij import processes, wire
from kij.errors import KernelDied, KernelFault, UserError
from kij.kernel import POLL_MS, signals_deferred
from kij.sniffer import Sniffed, sniffed

START_TIMEOUT = 60.0  # seconds for the controller's files, and for every engine to register
# in the environment of every process of a cluster kij starts (its profile directory as
# the value): what the controller forks while kij stops it is found by it
MARK = "KIJ_CLUSTER"
STOP_WAIT = 10.0  # seconds the processes get to exit after ipyparallel stopped them, before SIGKILL


# --- what was captured ------------------------------------------------------------------


class Recorder:
    """Every message kij's sockets (and its relay thread) saw, on one clock."""

    def __init__(self, key: bytes, scheme: str = "hmac-sha256"):
        self.key = key
        self.scheme = scheme
        self.t0 = time.monotonic()
        self.capture: list[Sniffed] = []
        self._lock = threading.Lock()

    def record(self, channel: str, direction: str, frames: list[bytes]) -> Sniffed:
        c = sniffed(channel, direction, time.monotonic() - self.t0, frames, self.key, self.scheme)
        with self._lock:
            self.capture.append(c)
        return c


# --- a cluster, started or attached ------------------------------------------------------


@dataclass
class Engine:
    id: int
    uuid: str  # its routing identity on mux, task and control
    pid: int | None = None  # known for engines kij started (their launcher's)


@dataclass
class Cluster:
    """The cluster kij is talking to: where its files are, its ports, its engines."""

    profile_dir: str
    cluster_id: str
    owned: bool
    client_info: dict  # ipcontroller-<id>-client.json
    engine_info: dict  # ipcontroller-<id>-engine.json (as the controller wrote it)
    recorder: Recorder
    engines: list[Engine] = field(default_factory=list)
    controller_pid: int | None = None
    launched: list[int] = field(default_factory=list)  # the engine processes kij started
    relay_port: int | None = None  # the port engines registered through (kij's relay)
    ipp: object = None  # the ipyparallel.Cluster, when kij started it
    boot_ms: float = 0.0

    @property
    def key(self) -> bytes:
        return self.recorder.key

    def url(self, info: dict, name: str) -> str:
        return f"{info['interface']}:{info[name]}"

    def check_alive(self, doing: str) -> None:
        """Raise KernelDied if the controller or an engine kij started has exited."""
        import psutil

        engines = {e.pid: f"engine {e.id}" for e in self.engines if e.pid}
        for what, pid in [("the controller", self.controller_pid),
                          *((engines.get(pid, "an engine"), pid) for pid in self.launched)]:
            if pid is None or not self.owned:
                continue
            try:
                alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                alive = False
            if not alive:
                raise KernelDied(f"{what} (PID {pid}) died {doing}; kij stopped the rest of its cluster")


def security_files(profile_dir: str, cluster_id: str) -> dict[str, Path]:
    security = Path(profile_dir) / "security"
    stem = f"ipcontroller-{cluster_id}-" if cluster_id else "ipcontroller-"
    return {side: security / f"{stem}{side}.json" for side in ("client", "engine")}


def _wait_for_files(paths: list[Path], alive: Callable[[], None], timeout: float) -> None:
    """Wait for the controller to write its connection files (polling the directory,
    with a deadline; `alive` raises if the controller died meanwhile)."""
    deadline = time.monotonic() + timeout
    while not all(p.exists() and p.stat().st_size for p in paths):
        alive()
        if time.monotonic() > deadline:
            raise KernelFault(f"the controller wrote no connection files within {timeout:g} s")
        time.sleep(0.05)  # a file appearing has no event to wait on; this polls it


def _read_json(path: Path) -> dict:
    for _ in range(50):  # the controller may be half-way through writing it
        with contextlib.suppress(ValueError):
            return json.loads(path.read_text())
        time.sleep(0.02)
    return json.loads(path.read_text())


@contextlib.contextmanager
def started(n: int, on_progress: Callable[[str], None] | None = None,
            timeout: float = START_TIMEOUT) -> Iterator[Cluster]:
    """A controller and n engines of kij's own, in a private profile directory; all of
    it stopped and removed on every path. on_progress hears each stage in a few words."""
    import ipyparallel as ipp

    say = on_progress or (lambda text: None)
    t0 = time.monotonic()
    profile_dir = tempfile.mkdtemp(prefix="kij-parallel-")
    cluster = None
    relay = None
    try:
        with signals_deferred(), processes.marked(MARK, profile_dir):  # a process spawned is a process recorded
            ipc = ipp.Cluster(n=n, profile_dir=profile_dir, log_level=40, shutdown_atexit=True,
                              send_engines_connection_env=False)
            say("starting the controller …")
            ipc.start_controller_sync()
        files = security_files(profile_dir, ipc.cluster_id)
        controller_pid = getattr(ipc.controller, "pid", None)
        cluster = Cluster(profile_dir=profile_dir, cluster_id=ipc.cluster_id, owned=True, client_info={},
                          engine_info={}, recorder=Recorder(b""), controller_pid=controller_pid, ipp=ipc)
        _wait_for_files(list(files.values()), lambda: cluster.check_alive("while starting"), timeout)
        cluster.client_info = _read_json(files["client"])
        cluster.engine_info = _read_json(files["engine"])
        cluster.recorder = Recorder(wire.key_bytes(cluster.client_info["key"]),
                                    cluster.client_info.get("signature_scheme", "hmac-sha256"))
        relay = RegistrationRelay(cluster)
        relay.start()
        cluster.relay_port = relay.port
        _point_engines_at(files["engine"], cluster.engine_info, relay.port)
        with Notifications(cluster) as notes:
            with signals_deferred(), processes.marked(MARK, profile_dir):
                say(f"starting {n} engines …")
                ipc.start_engines_sync(n)
                cluster.launched = [launcher.pid for es in ipc.engines.values()
                                    for launcher in es.launchers.values() if getattr(launcher, "pid", None)]
            registered = notes.wait_for(n, timeout, say, cluster)
        cluster.engines = sorted(registered, key=lambda e: e.id)  # each one's PID: from the engine itself, later
        cluster.boot_ms = round((time.monotonic() - t0) * 1000, 1)
        yield cluster
    finally:
        if relay is not None:
            relay.stop()
        with signals_deferred():
            _stop(cluster.ipp if cluster else None, cluster)
            # and what the tree did not show: a scheduler the controller forked after kij
            # looked, or a controller stopped before kij knew of it
            processes.stop(processes.carrying(MARK, profile_dir), wait=STOP_WAIT)
            shutil.rmtree(profile_dir, ignore_errors=True)


def _point_engines_at(path: Path, engine_info: dict, port: int) -> None:
    """Engines read where to register from the engine connection file: send them to
    kij's relay (the file is in kij's private profile directory)."""
    path.write_text(json.dumps({**engine_info, "registration": port}, indent=2))


def _stop(ipc, cluster: Cluster | None) -> None:
    """Stop every engine and the controller kij started; then make sure their processes,
    and the processes they started (schedulers, nannies), are gone: SIGKILL what is
    still there after STOP_WAIT."""
    if ipc is None:
        return
    pids = [getattr(ipc.controller, "pid", None) if ipc.controller else None]
    pids += [getattr(launcher, "pid", None) for es in ipc.engines.values() for launcher in es.launchers.values()]
    pids += cluster.launched if cluster else []
    tree = processes.tree(pids)
    for stop in (ipc.stop_engines_sync, ipc.stop_controller_sync):
        try:
            stop()
        except BaseException:  # noqa: BLE001 — e.g. asyncio's CancelledError after a Ctrl-C; the kill below follows
            pass
    processes.reap(tree, wait=STOP_WAIT)
    from ipyparallel.cluster import cluster as ipp_cluster

    ipp_cluster._atexit_clusters.discard(ipc)  # stopped: nothing left for its atexit hook


@contextlib.contextmanager
def attached(profile: str | None = None, profile_dir: str | None = None,
             timeout: float = 10.0) -> Iterator[Cluster]:
    """A running cluster someone else started (ipcluster start, any launcher): found by
    its profile; its engines listed by the Hub itself. Never stopped, never changed."""
    path = find_profile(profile, profile_dir)
    client_file = _newest_client_file(path)
    info = _read_json(client_file)
    cluster_id = client_file.name[len("ipcontroller-"):-len("-client.json")]
    engine_file = client_file.with_name(client_file.name.replace("-client.json", "-engine.json"))
    cluster = Cluster(profile_dir=str(path), cluster_id=cluster_id, owned=False, client_info=info,
                      engine_info=_read_json(engine_file) if engine_file.exists() else {},
                      recorder=Recorder(wire.key_bytes(info["key"]), info.get("signature_scheme", "hmac-sha256")))
    cluster.controller_pid = _local_controller_pid(path, cluster_id)
    cluster.engines = connection_request(cluster, timeout)
    yield cluster


def _local_controller_pid(profile_dir: Path, cluster_id: str) -> int | None:
    """The controller's PID, when the cluster file says a local launcher started it
    (then it runs on this host); None otherwise (kij reads no other host's processes)."""
    path = profile_dir / "security" / f"cluster-{cluster_id}.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        controller = json.loads(path.read_text())["controller"]
        if controller.get("class") == "local":
            return int(controller["state"]["pid"])
    return None


def find_profile(profile: str | None, profile_dir: str | None) -> Path:
    """--profile NAME (in IPython's directory) or --profile-dir DIR → the directory;
    a UserError if it does not exist or holds no controller's connection file."""
    if profile_dir:
        path = Path(profile_dir).expanduser()
    else:
        from IPython.paths import get_ipython_dir

        path = Path(get_ipython_dir()) / f"profile_{profile}"
    if not path.is_dir():
        raise UserError(f"no such profile directory: {path}")
    if not list((path / "security").glob("ipcontroller-*client.json")):
        raise UserError(f"no cluster is running in {path}: there is no security/ipcontroller-*-client.json "
                        "(start one with `ipcluster start`)")
    return path


def _newest_client_file(path: Path) -> Path:
    return max((path / "security").glob("ipcontroller-*client.json"), key=lambda p: p.stat().st_mtime)


def connection_request(cluster: Cluster, timeout: float) -> list[Engine]:
    """Ask the Hub (its registration/query socket) which engines it has, as a Client does."""
    with own_socket(cluster, "DEALER", cluster.url(cluster.client_info, "registration")) as sock:
        msg = wire.build("connection_request", {}, key=cluster.key, session=uuid.uuid4().hex)
        sock.send_multipart(msg.frames)
        cluster.recorder.record("query", "to_kernel", msg.frames)
        if not sock.poll(int(timeout * 1000)):
            raise KernelFault(f"no controller answered at {cluster.url(cluster.client_info, 'registration')} "
                              f"within {timeout:g} s — is the cluster in {cluster.profile_dir} still running?")
        reply = cluster.recorder.record("query", "from_kernel", sock.recv_multipart())
    engines = reply.content.get("engines", {})
    return sorted((Engine(id=int(k), uuid=v) for k, v in engines.items()), key=lambda e: e.id)


@contextlib.contextmanager
def own_socket(cluster: Cluster, kind: str, url: str, identity: bytes | None = None, bind: bool = False):
    """One raw socket of kij's onto (or, bound, for) the controller; closed on the way out."""
    import zmq

    ctx = zmq.Context.instance()
    sock = ctx.socket(getattr(zmq, kind))
    sock.linger = 0
    if identity:
        sock.identity = identity
    if kind == "SUB":
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    _curve(sock, cluster.client_info)
    if bind:
        sock.bind(url)
    else:
        sock.connect(url)
    try:
        yield sock
    finally:
        sock.close(linger=0)


def _curve(sock, info: dict) -> None:
    """A cluster with CurveZMQ (ipyparallel ≥ 7.1): the controller's public key is the
    server key; kij makes a key pair of its own, as ipyparallel's Client does."""
    import zmq

    server = info.get("curve_serverkey")
    if server:
        public, secret = zmq.curve_keypair()
        sock.curve_serverkey = server.encode() if isinstance(server, str) else server
        sock.curve_publickey, sock.curve_secretkey = public, secret


# --- engines registering: the relay, and the Hub's notifications ------------------------


class RegistrationRelay:
    """A ROUTER engines register with instead of the Hub: each engine's messages go on
    through a DEALER with the engine's own identity, the Hub's replies come back, and
    both are recorded. Nothing is changed on the way."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.port = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kij-registration-relay", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        import zmq

        ctx = zmq.Context.instance()
        front = ctx.socket(zmq.ROUTER)
        front.linger = 0
        backs: dict[bytes, object] = {}
        try:
            self.port = front.bind_to_random_port("tcp://127.0.0.1")
        except BaseException as exc:  # handed to start()
            self._error = exc
            self._ready.set()
            front.close()
            return
        self._ready.set()
        poller = zmq.Poller()
        poller.register(front, zmq.POLLIN)
        hub = self.cluster.url(self.cluster.engine_info, "registration")
        try:
            while not self._stop.is_set():
                for sock, _ in poller.poll(POLL_MS):
                    frames = sock.recv_multipart()
                    if sock is front:
                        ident, rest = frames[0], frames[1:]
                        if ident not in backs:
                            backs[ident] = back = ctx.socket(zmq.DEALER)
                            back.linger = 0
                            back.identity = ident
                            back.connect(hub)
                            poller.register(back, zmq.POLLIN)
                        self.cluster.recorder.record("reg", "from_kernel", frames)
                        backs[ident].send_multipart(rest)
                    else:
                        ident = sock.identity
                        self.cluster.recorder.record("reg", "to_kernel", [ident, *frames])
                        front.send_multipart([ident, *frames])
        finally:
            for back in backs.values():
                back.close(linger=0)
            front.close(linger=0)


class Notifications:
    """kij's SUB on the Hub's notification PUB: registration_notification (an engine
    finished registering: its first heartbeat came back) and unregistration_notification."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self._cm = own_socket(cluster, "SUB", cluster.url(cluster.client_info, "notification"))

    def __enter__(self) -> "Notifications":
        self.sock = self._cm.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._cm.__exit__(*exc)

    def wait_for(self, n: int, timeout: float, say: Callable[[str], None], cluster: Cluster) -> list[Engine]:
        registered: list[Engine] = []
        deadline = time.monotonic() + timeout
        while len(registered) < n:
            cluster.check_alive("while the engines registered")
            if time.monotonic() > deadline:
                raise KernelFault(f"only {len(registered)} of {n} engines registered within {timeout:g} s")
            if self.sock.poll(POLL_MS):
                got = cluster.recorder.record("notify", "from_kernel", self.sock.recv_multipart())
                if got.msg_type == "registration_notification":
                    registered.append(Engine(id=got.content["id"], uuid=got.content["uuid"]))
                    say(f"{len(registered)} of {n} engines registered …")
        return registered


# --- kij's own sockets on the controller's client side ---------------------------------


class ClientWire:
    """kij's DEALERs on the Hub's mux (one engine, named by its identity) and task
    (load-balanced: the scheduler picks) schedulers, and its SUB on the heartbeat's ping
    PUB — what an ipyparallel Client connects to, opened and signed by kij."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.session = uuid.uuid4().hex
        self.identity = f"kij-{self.session[:8]}".encode()
        self._stack = contextlib.ExitStack()
        self.sockets: dict = {}

    def __enter__(self) -> "ClientWire":
        info = self.cluster.client_info
        for name in ("mux", "task"):
            self.sockets[name] = self._stack.enter_context(
                own_socket(self.cluster, "DEALER", self.cluster.url(info, name), identity=self.identity))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def send(self, channel: str, msg_type: str, content: dict, ident: str | None = None,
             buffers: list[bytes] = (), metadata: dict | None = None) -> Sniffed:
        msg = wire.build(msg_type, content, key=self.cluster.key, session=self.session, metadata=metadata,
                         identities=[ident.encode()] if ident else None, scheme=self.cluster.recorder.scheme)
        frames = [*msg.frames, *map(bytes, buffers)]
        self.sockets[channel].send_multipart(frames)
        return self.cluster.recorder.record(channel, "to_kernel", frames)

    def apply(self, channel: str, f: Callable, args: tuple = (), ident: str | None = None) -> Sniffed:
        """An apply_request: the function and its arguments pickled by ipyparallel's own
        serializer, travelling as buffers after the signed frames."""
        from ipyparallel import serialize

        return self.send(channel, "apply_request", {}, ident=ident, buffers=serialize.pack_apply_message(f, args, {}))

    def replies(self, requests: list[Sniffed], timeout: float, watchdog: Callable[[], None]) -> dict[str, Sniffed]:
        """msg_id → the reply for each request, as they come (a KernelFault after timeout)."""
        import zmq

        want = {r.msg_id: r for r in requests}
        got: dict[str, Sniffed] = {}
        poller = zmq.Poller()
        for sock in self.sockets.values():
            poller.register(sock, zmq.POLLIN)
        deadline = time.monotonic() + timeout
        while len(got) < len(want):
            watchdog()
            if time.monotonic() > deadline:
                missing = len(want) - len(got)
                raise KernelFault(f"{missing} of {len(want)} requests got no reply within {timeout:g} s")
            for sock, _ in poller.poll(POLL_MS):
                name = next(n for n, s in self.sockets.items() if s is sock)
                reply = self.cluster.recorder.record(name, "from_kernel", sock.recv_multipart())
                if reply.parent_id in want:
                    got[reply.parent_id] = reply
        return got


def result_of(reply: Sniffed):
    """The Python object an apply_reply carries in its buffers (ipyparallel's own
    deserializer), or raise a KernelFault with the engine's error."""
    from ipyparallel import serialize

    content = reply.content
    if content.get("status") != "ok":
        raise KernelFault(f"an engine answered {content.get('ename')}: {content.get('evalue')}")
    obj, _ = serialize.deserialize_object(reply.message.buffers)
    return obj


def hear_heartbeats(cluster: Cluster, count: int, timeout: float) -> list[Sniffed]:
    """kij's own SUB on the Hub's hb_ping PUB: the pings every engine answers (on hb_pong)."""
    heard: list[Sniffed] = []
    with own_socket(cluster, "SUB", cluster.url(cluster.engine_info, "hb_ping")) as sock:
        deadline = time.monotonic() + timeout
        while len(heard) < count and time.monotonic() < deadline:
            if sock.poll(POLL_MS):
                heard.append(cluster.recorder.record("hb", "to_kernel", sock.recv_multipart()))
    return heard


# --- sockets of processes, from the operating system -----------------------------------


@dataclass
class Sockets:
    pid: int
    listening: list[int]  # TCP ports it listens on
    loopback: list[int]  # those of them bound to a loopback address only
    connected_to: list[int]  # the remote ports of the connections it opened (not those it accepted)


def sockets_of(pid: int) -> Sockets | None:
    """What the operating system says a process's TCP sockets are (None: not readable here)."""
    import psutil

    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    listening = sorted({c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN})
    loopback = sorted({c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN
                       and c.laddr.ip in ("127.0.0.1", "::1")})
    connected = sorted({c.raddr.port for c in conns if c.status == psutil.CONN_ESTABLISHED and c.raddr
                        and c.laddr.port not in listening})
    return Sockets(pid=pid, listening=listening, loopback=loopback, connected_to=connected)


def port_names(cluster: Cluster) -> dict[int, str]:
    """The controller's ports, by what they are for (engine side and client side)."""
    names: dict[int, str] = {}
    for info, side in ((cluster.engine_info, "engine"), (cluster.client_info, "client")):
        for key, value in info.items():
            ports = value if isinstance(value, list) else [value]
            for port in ports:
                if isinstance(port, int) and key not in ("pack", "unpack"):
                    names.setdefault(port, key)
    if cluster.relay_port:
        names[cluster.relay_port] = "kij's registration relay"
    return names

