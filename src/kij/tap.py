"""kij tap: a transparent proxy kernel that relays — and records — a real frontend's traffic.

A frontend (JupyterLab, jupyter console, nbclient, ...) launches this module as if
it were the kernel:

    python -m kij.tap -f {connection_file} [--kernel python3]

It binds the five sockets exactly where the frontend's connection file says, starts
the real kernel (jupyter_client's KernelManager) on loopback ports of its own with
the SAME key and signature scheme, and relays every multipart message in both
directions, byte for byte. Nothing is re-signed: the frontend's signatures are
checked by the real kernel, and the kernel's by the frontend, exactly as if the
proxy were not there.

    frontend                 kij tap (this process)                real kernel
    DEALER  shell   ──►  ROUTER ─► per-client DEALER (same identity)  ──►  ROUTER
    DEALER  control ──►  ROUTER ─► per-client DEALER (same identity)  ──►  ROUTER
    DEALER  stdin   ◄──  ROUTER ◄─ per-client DEALER (same identity)  ◄──  ROUTER
    SUB     iopub   ◄──  XPUB   ◄─ XSUB   (subscriptions travel up)   ◄──  XPUB/PUB
    REQ     hb      ──►  ROUTER ─► DEALER (the REQ envelope rides along) ─► REP

Why per-client DEALERs. A ROUTER routes replies by the *identity* of the peer that
sent the request, and the kernel sends `input_request` on stdin to the identity that
sent the execute_request on shell (a frontend gives its shell and stdin sockets the
same identity for exactly this reason). If the proxy talked to the kernel through
one shared DEALER, the kernel would see a single identity — the proxy's — and could
not tell two frontends apart. So for every identity X that appears on the
frontend-facing ROUTERs, the proxy opens three DEALERs (shell, control, stdin) *with
identity X* onto the kernel, the first time X is seen on any channel. A message
from X leaves the ROUTER as [X, frames...]; the proxy sends [frames...] on X's
DEALER, and the kernel's ROUTER receives [X, frames...] — what it would have
received directly. A reply arriving on X's DEALER goes back out of the frontend
ROUTER as [X, frames...], which routes it to X. Because X's stdin DEALER exists as
soon as X sends its first request (frontends send kernel_info_request first), the
kernel's `input_request` to X finds a connected peer. (ROUTER-to-ROUTER would need
the kernel's own identity and per-message rewriting; this keeps every frame as is.)
An identity zmq generated itself (a peer that set none) starts with a zero byte,
which a socket may not claim: such a client gets an `kij-tap-anon-<hex>` identity
towards the kernel — replies still find it, but that peer's stdin cannot (it could
not directly either: its stdin socket would have another random identity).

Every multipart message is recorded with channel, direction and time, as JSON lines
in the `kij-frames/1` format (docs/frames.md, docs/tap.md) to

    <jupyter runtime dir>/kij-tap/<kernel-id>.jsonl      always
    $KIJ_TAP_TRACE                                       as well, when set

Recording happens on a second thread, after the frames have been relayed, so that
decoding, checking signatures (the proxy holds the key) and writing JSON never sit
between the frontend and the kernel. The key itself is never written (key_hint).

Lifecycle: SIGINT (the frontend's interrupt, interrupt_mode "signal") is forwarded
with the KernelManager's interrupt_kernel, honouring the real kernel's own
interrupt_mode. When the real kernel exits — after the frontend's shutdown_request
(also the first half of a restart: the frontend then launches a new proxy), or
because it died — the proxy relays what is left and exits too, so the frontend's
manager sees its "kernel" gone. On SIGTERM, and when the parent that launched the
proxy dies (JPY_PARENT_PID), the proxy shuts the real kernel down first. The real
kernel itself gets JPY_PARENT_PID = the proxy, so even SIGKILL of the proxy does
not orphan an ipykernel.

The proxy listens on loopback only: a connection file asking for any other address
is overridden to 127.0.0.1, with a log line saying so.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import json
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path

from kij import trace, wire
from kij.sniffer import address, capture_of

CHANNELS = ("shell", "control", "stdin", "iopub", "hb")
ROUTED = ("shell", "control", "stdin")  # ROUTER on the kernel: identities matter
POLL_MS = 50  # how often the relay loop looks at the kernel process and its parent
BATCH = 200  # messages taken from one socket before the others get a turn
LOOPBACK = "127.0.0.1"
DEFAULT_KERNEL = "python3"
SHUTDOWN_WAIT = 2.0


def log(text: str) -> None:
    """One line on stderr: a frontend shows it in its log (JupyterLab: its terminal)."""
    print(f"[kij tap] {text}", file=sys.stderr, flush=True)


# --- where traces go ----------------------------------------------------------------


def trace_dir() -> Path:
    """<jupyter runtime dir>/kij-tap: one trace per kernel id."""
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir()) / "kij-tap"


def kernel_id(connection_file: str | Path) -> str:
    """kernel-1a2b….json → 1a2b… (the id JupyterLab gave the kernel)."""
    stem = Path(connection_file).stem
    return stem[len("kernel-"):] if stem.startswith("kernel-") else stem


def loopback(ip: str) -> bool:
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


# --- the recorder: frames → kij-frames/1 records, on its own thread ------------------


class TraceWriter:
    """Appends records to one JSON-lines file. A new file gets the head line first;
    an existing one (the same kernel id after a restart, or a shared KIJ_TAP_TRACE)
    is continued: seq and t_ms go on from where it stopped."""

    def __init__(self, path: Path, head: dict):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.seq, started = self._existing(path)
        self.offset = 0.0 if started is None else max(0.0, head["tap"]["started"] - started)
        self.file = open(path, "a", encoding="utf-8")
        if started is None:
            self.file.write(json.dumps(head, ensure_ascii=False, default=str) + "\n")
            self.file.flush()

    @staticmethod
    def _existing(path: Path) -> tuple[int, float | None]:
        """(records already there, the first writer's start time) — (0, None) if new."""
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return 0, None
        if not text.strip():
            return 0, None
        lines = text.split("\n")  # not splitlines: U+2028 may sit inside a JSON string
        started = None
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            started = float(json.loads(lines[0]).get("tap", {}).get("started"))
        records = sum(1 for line in lines if line.startswith('{"seq"'))
        return records, started if started is not None else time.time()

    def write(self, record: trace.Record) -> None:
        record.seq = self.seq
        record.t_ms = round(record.t_ms + self.offset * 1000, 3)
        self.seq += 1
        self.file.write(json.dumps(dataclasses.asdict(record), ensure_ascii=False, default=str) + "\n")

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()


class Recorder(threading.Thread):
    """Takes (channel, direction, t, frames, note) off a queue and writes records."""

    def __init__(self, writers: list[TraceWriter], key: bytes, scheme: str):
        super().__init__(name="kij-tap-recorder", daemon=True)
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.writers = writers
        self.key = key
        self.scheme = scheme

    def put(self, channel: str, direction: str, t: float, frames: list[bytes], note: str | None = None) -> None:
        self.queue.put((channel, direction, t, frames, note))

    def stop(self) -> None:
        self.queue.put(None)
        self.join(timeout=10)

    def run(self) -> None:
        while True:
            item = self.queue.get()
            while item is not None:
                self._write(*item)
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            for w in self.writers:
                with contextlib.suppress(OSError):
                    w.flush()
            if item is None:
                for w in self.writers:
                    w.close()
                return

    def _write(self, channel, direction, t, frames, note) -> None:
        try:
            record = trace.record_of(capture_of(channel, direction, t, frames, self.key, self.scheme), 0, note=note)
        except Exception as exc:  # noqa: BLE001 — whatever arrived, the relay goes on
            record = trace.Record(seq=0, channel=channel, direction=direction, t_ms=round(t * 1000, 3),
                                  frames=[trace.frame_of(i, "?", f) for i, f in enumerate(frames)],
                                  note=f"kij could not decode it ({exc.__class__.__name__})")
        for w in self.writers:
            try:
                w.write(record)
            except (OSError, ValueError) as exc:
                log(f"cannot write the trace {w.path}: {exc}")
                self.writers = [x for x in self.writers if x is not w]


def hb_payload(frames: list[bytes]) -> list[bytes]:
    """A REQ's message through a ROUTER: [identity, b"", payload...] → the payload."""
    return frames[frames.index(b"") + 1:] if b"" in frames else frames


def is_shutdown_request(frames: list[bytes]) -> bool:
    try:
        return wire.unpack(wire.split(frames)[1][1]).get("msg_type") == "shutdown_request"
    except (wire.WireError, IndexError, RecursionError):
        return False


def subscription_note(frames: list[bytes]) -> str:
    first = frames[0] if frames else b""
    kind = {1: "subscribe", 0: "unsubscribe"}.get(first[0] if first else -1)
    if kind is None:
        return "not a subscription: passed on to the kernel's XPUB as it came"
    topic = first[1:].decode("utf-8", "replace")
    return f"{kind} {topic!r} ('' = every topic): XPUB/XSUB pass subscriptions up to the kernel"


# --- the proxy ------------------------------------------------------------------------


class Stop(Exception):
    """Leave the relay loop: SIGTERM, or the parent is gone."""


class Tap:
    """Frontend-facing sockets, the real kernel, and the relay between them."""

    def __init__(self, connection_file: str, kernel_name: str = DEFAULT_KERNEL):
        from kij.kernel import read_connection_file

        self.connection_file = connection_file
        self.kernel_name = kernel_name
        self.info = read_connection_file(connection_file)
        self.key = self.info["key"].encode() if isinstance(self.info["key"], str) else self.info["key"]
        self.scheme = self.info.get("signature_scheme", "hmac-sha256")
        self.t0 = time.monotonic()
        self.started = time.time()
        self.km = None
        self.context = None
        self.front: dict = {}  # channel → the socket the frontend connects to
        self.back: dict = {}  # "iopub" / "hb" → the socket onto the kernel
        self.clients: dict[bytes, dict] = {}  # frontend identity → {channel: DEALER}
        self.owner: dict = {}  # kernel-side DEALER → (channel, frontend identity)
        self.poller = None
        self.recorder: Recorder | None = None
        self.shutdown_requested = False
        self.parent_pid = self._parent_pid()
        self._front_ip: str | None = None

    # -- setting up --

    @staticmethod
    def _parent_pid() -> int:
        """The launcher to watch: JPY_PARENT_PID if it is our parent, else our parent."""
        ppid = os.getppid()
        with contextlib.suppress(ValueError):
            declared = int(os.environ.get("JPY_PARENT_PID") or 0)
            if declared and declared == ppid:
                return declared
        return ppid

    def frontend_ip(self) -> str:
        if self._front_ip is None:
            self._front_ip = self._choose_ip()
        return self._front_ip

    def _choose_ip(self) -> str:
        ip = self.info.get("ip", LOOPBACK)
        if self.info.get("transport", "tcp") == "tcp" and not loopback(ip):
            log(f"the connection file asks for ip {ip!r}; kij tap only listens on loopback, "
                f"binding {LOOPBACK} instead")
            return LOOPBACK
        return ip

    def start_kernel(self) -> None:
        """The real kernel, on loopback ports of its own, signing with the same key."""
        from jupyter_client.manager import KernelManager
        from jupyter_core.paths import jupyter_runtime_dir

        from kij.kernel import check_kernel_names

        check_kernel_names([self.kernel_name])
        runtime = Path(jupyter_runtime_dir())
        runtime.mkdir(parents=True, exist_ok=True)
        self.km = KernelManager(
            kernel_name=self.kernel_name, shutdown_wait_time=SHUTDOWN_WAIT,
            connection_file=str(runtime / f"kernel-{kernel_id(self.connection_file)}-tapped.json"),
        )
        self.km.load_connection_info({"ip": LOOPBACK, "transport": "tcp", "key": self.key,
                                      "signature_scheme": self.scheme})
        self.km.start_kernel()
        log(f"started the real {self.kernel_name} kernel, PID {self.kernel_pid}, "
            f"connection file {self.km.connection_file}")

    @property
    def kernel_pid(self) -> int | None:
        process = self.kernel_process
        return process.pid if process is not None else None

    @property
    def kernel_process(self):
        provisioner = self.km.provisioner if self.km is not None else None
        return getattr(provisioner, "process", None)

    def open_sockets(self) -> None:
        import zmq

        self.context = zmq.Context()
        self.poller = zmq.Poller()
        front_info = {**self.info, "ip": self.frontend_ip()}
        kinds = {"shell": zmq.ROUTER, "control": zmq.ROUTER, "stdin": zmq.ROUTER,
                 "iopub": zmq.XPUB, "hb": zmq.ROUTER}
        for channel, kind in kinds.items():
            sock = self.context.socket(kind)
            sock.setsockopt(zmq.LINGER, 1000)  # a last reply still reaches the frontend
            sock.bind(address(front_info, channel))
            self.front[channel] = sock
            self.poller.register(sock, zmq.POLLIN)
        kernel_info = self.km.get_connection_info(session=False)
        for channel, kind in (("iopub", zmq.XSUB), ("hb", zmq.DEALER)):
            sock = self.context.socket(kind)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(address(kernel_info, channel))
            self.back[channel] = sock
            self.poller.register(sock, zmq.POLLIN)

    def client(self, identity: bytes) -> dict:
        """The three DEALERs that speak to the kernel as `identity` (made on first sight)."""
        import zmq

        sockets = self.clients.get(identity)
        if sockets is not None:
            return sockets
        own = identity if identity and identity[0] != 0 else b"kij-tap-anon-" + identity.hex().encode()
        kernel_info = self.km.get_connection_info(session=False)
        sockets = {}
        for channel in ROUTED:
            sock = self.context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IDENTITY, own)
            sock.connect(address(kernel_info, channel))
            sockets[channel] = sock
            self.owner[sock] = (channel, identity)
            self.poller.register(sock, zmq.POLLIN)
        self.clients[identity] = sockets
        return sockets

    def trace_head(self) -> dict:
        from jupyter_client.kernelspec import KernelSpecManager

        language = None
        with contextlib.suppress(Exception):
            language = KernelSpecManager().get_kernel_spec(self.kernel_name).language
        facts = trace.KernelFacts(
            name=self.kernel_name, connection_file=str(self.connection_file), pid=self.kernel_pid,
            language=language, transport=self.info.get("transport", "tcp"), ip=self.frontend_ip(),
            ports={ch: self.info.get(f"{ch}_port") for ch in CHANNELS},
            signature_scheme=self.scheme, key_hint=trace.key_hint(self.key), log_readable=False,
        )
        head = trace.to_document(trace.Capture(kernel=facts, takeaway=(
            "This is your frontend's own traffic: every request it sent, every reply and broadcast "
            "the kernel sent back, relayed unchanged by kij tap.")))
        head.pop("messages")
        head["tap"] = {
            "proxy_pid": os.getpid(), "started": self.started,
            "kernel_connection_file": self.km.connection_file,
            "kernel_ports": {ch: self.km.get_connection_info(session=False).get(f"{ch}_port") for ch in CHANNELS},
            "signatures": "checked by the proxy with the connection key as it relayed them",
        }
        return head

    def start_recorder(self) -> list[Path]:
        head = self.trace_head()
        paths = [trace_dir() / f"{kernel_id(self.connection_file)}.jsonl"]
        if os.environ.get("KIJ_TAP_TRACE"):
            paths.append(Path(os.environ["KIJ_TAP_TRACE"]))
        writers = []
        for path in paths:
            try:
                writers.append(TraceWriter(path, head))
            except OSError as exc:
                log(f"cannot write the trace {path}: {exc}")
        self.recorder = Recorder(writers, self.key, self.scheme)
        self.recorder.start()
        for w in writers:
            log(f"recording to {w.path}")
        return [w.path for w in writers]

    # -- relaying --

    def record(self, channel: str, direction: str, frames: list[bytes], note: str | None = None) -> None:
        self.recorder.put(channel, direction, time.monotonic() - self.t0, frames, note)

    def relay(self, sock, frames: list[bytes]) -> None:
        """One multipart message that arrived on sock: pass it on, then record it."""
        front, back = self.front, self.back
        if sock in self.owner:  # the kernel answering one client on shell/control/stdin
            channel, identity = self.owner[sock]
            frames = [identity, *frames]
            front[channel].send_multipart(frames)
            self.record(channel, "from_kernel", frames)
        elif sock is back["iopub"]:
            front["iopub"].send_multipart(frames)
            self.record("iopub", "from_kernel", frames)
        elif sock is back["hb"]:
            front["hb"].send_multipart(frames)
            self.record("hb", "from_kernel", hb_payload(frames))
        elif sock is front["iopub"]:  # a subscription from a frontend's SUB
            back["iopub"].send_multipart(frames)
            self.record("iopub", "to_kernel", frames, note=subscription_note(frames))
        elif sock is front["hb"]:
            back["hb"].send_multipart(frames)
            self.record("hb", "to_kernel", hb_payload(frames))
        else:  # a frontend's request on shell/control/stdin: [identity, frames...]
            channel = next(ch for ch in ROUTED if front[ch] is sock)
            identity, rest = frames[0], frames[1:]
            self.client(identity)[channel].send_multipart(rest)
            self.record(channel, "to_kernel", frames)
            if channel == "control" and is_shutdown_request(rest):
                self.shutdown_requested = True

    def drain(self, timeout_ms: int) -> bool:
        """Relay whatever arrives within timeout_ms; True if anything did."""
        import zmq

        moved = False
        for sock, _ in self.poller.poll(timeout_ms):
            for _ in range(BATCH):
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self.relay(sock, frames)
                moved = True
        return moved

    def kernel_exit_code(self) -> int | None:
        process = self.kernel_process
        return process.poll() if process is not None else 0

    def check_parent(self) -> None:
        if os.getppid() != self.parent_pid:
            raise Stop(f"the process that launched kij tap (PID {self.parent_pid}) is gone")

    def loop(self) -> int:
        """Relay until the real kernel exits (→ its fate is ours) or Stop is raised."""
        while True:
            self.drain(POLL_MS)
            self.check_parent()
            code = self.kernel_exit_code()
            if code is not None:
                while self.drain(100):  # what the kernel said last (shutdown_reply, iopub)
                    pass
                if self.shutdown_requested:
                    log(f"the {self.kernel_name} kernel shut down as the frontend asked; kij tap exits too")
                    return 0
                log(f"the {self.kernel_name} kernel died (exit code {code}); kij tap exits so the frontend sees it")
                return 1

    # -- tearing down --

    def close(self) -> None:
        """Shut the real kernel down (if it still runs), then close every socket."""
        from kij.kernel import Kernel, shutdown

        if self.km is not None:
            shutdown([Kernel(self.kernel_name, client=None, manager=self.km)])
        if self.recorder is not None:
            self.recorder.stop()
        if self.context is not None:
            for sock in [*self.back.values(), *self.owner]:
                sock.close(linger=0)
            for sock in self.front.values():
                sock.close()  # LINGER 1 s: the last replies still go out
            self.context.term()


def run(connection_file: str, kernel_name: str = DEFAULT_KERNEL) -> int:
    tap = Tap(connection_file, kernel_name)

    def on_sigint(signum, frame):  # the frontend's interrupt (interrupt_mode "signal")
        if tap.km is not None and tap.kernel_exit_code() is None:
            log(f"interrupt: passing it on to the {kernel_name} kernel")
            with contextlib.suppress(Exception):
                tap.km.interrupt_kernel()

    def on_sigterm(signum, frame):
        raise Stop("SIGTERM")

    # The recorder thread decodes and writes JSON while the relay waits in zmq (GIL
    # released). When a message arrives, the relay must get the GIL back at once, not
    # after Python's default 5 ms switch interval: that alone would add milliseconds
    # to every round trip.
    sys.setswitchinterval(0.0001)
    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        tap.start_kernel()
        tap.open_sockets()
        tap.start_recorder()
        return tap.loop()
    except Stop as why:
        log(f"{why}: shutting the {kernel_name} kernel down")
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # cleanup is not to be cut short
        tap.close()


def main(argv: list[str] | None = None) -> None:
    from kij.errors import KijError

    parser = argparse.ArgumentParser(prog="python -m kij.tap", description=__doc__.splitlines()[0])
    parser.add_argument("-f", dest="connection_file", required=True, help="the frontend's connection file")
    parser.add_argument("--kernel", default=DEFAULT_KERNEL, help="the kernelspec to start behind the tap")
    args = parser.parse_args(argv)
    try:
        sys.exit(run(args.connection_file, args.kernel))
    except KijError as exc:
        log(str(exc))
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
