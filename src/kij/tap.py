"""kij tap: a transparent proxy kernel that relays — and records — a real frontend's traffic.

A frontend (JupyterLab, jupyter console, nbclient, ...) launches this module as if
it were the kernel:

    python -m kij.tap -f {connection_file} [--kernel python3]

It binds the five sockets exactly where the frontend's connection file says, starts
the real kernel (jupyter_client's KernelManager) on loopback ports of its own with
the SAME key and signature scheme, and relays every multipart message in both
directions. Nothing is re-signed: the frontend's signatures are checked by the real
kernel, and the kernel's by the frontend, exactly as if the proxy were not there.

    frontend              kij tap (this process)                      real kernel
    DEALER  shell   ──►  ROUTER ══ monitored_queue ══ DEALER "kij-tap-<pid>"  ──►  ROUTER
    DEALER  control ──►  ROUTER ══ monitored_queue ══ DEALER "kij-tap-<pid>"  ──►  ROUTER
    DEALER  stdin   ◄──  ROUTER ══ monitored_queue ══ DEALER "kij-tap-<pid>"  ◄──  ROUTER
    SUB     iopub   ◄──  XPUB   ══ monitored_queue ══ XSUB (subscriptions go up)  ◄──  PUB
    REQ     hb      ──►  ROUTER ══ monitored_queue ══ DEALER                   ──►  REP
                                       ║ a copy of every message, tagged "shell to_kernel", …
                                       ╚══► PUSH ─► PULL: the recorder thread writes the trace

Each channel is one pyzmq device, `zmq.devices.monitored_queue`, running in a thread
of its own. The device is C code that releases the GIL: it moves each frame from
one socket to the other and then sends a copy, prefixed with the channel and the
direction, to a monitor socket. Python never touches a message on its way between
the frontend and the kernel; it only reads the copies, afterwards, to record them.

Routing — why a ROUTER/DEALER pair is enough. A ROUTER prefixes every message it
receives with the sender's *identity* frame, and a message sent out of a ROUTER
goes to the peer its first frame names. So the frontend's execute_request leaves
the front ROUTER as [frontend-id, <IDS|MSG>, ...]; the DEALER passes that on and the
kernel's ROUTER adds the DEALER's own identity: the kernel receives

    [b"kij-tap-<pid>", frontend-id, <IDS|MSG>, signature, header, ...]

and answers to that whole chain. The reply reaches our DEALER as [frontend-id, ...],
and the front ROUTER routes it to frontend-id. Two frontends stay apart because each
brings its own identity frame. stdin works the same way, provided the proxy's shell
and stdin DEALERs share ONE identity: the kernel sends input_request on stdin to
the identity chain of the execute_request that asked, [kij-tap-<pid>, frontend-id],
so the stdin ROUTER needs a peer called kij-tap-<pid> (our stdin DEALER), which
strips that frame, and our front stdin ROUTER delivers the rest to frontend-id — the
frontend's stdin socket, which has its shell socket's identity (jupyter_client gives
both the session id for exactly this reason).

What is unchanged, and what is not. From `<IDS|MSG>` on, every frame — delimiter,
signature, header, parent header, metadata, content, buffers — is relayed
untouched. The routing frames before it are ZeroMQ's envelope, and a proxy adds
one hop to it: directly, the kernel would see [frontend-id, <IDS|MSG>, ...]; through
the tap it sees [kij-tap-<pid>, frontend-id, <IDS|MSG>, ...]. A kernel does not sign
or read those frames (it only echoes them back), so this is invisible to both ends.
The trace records the frames *as relayed between the proxy's two sockets*: on
shell/control/stdin that is [frontend-id, <IDS|MSG>, ...] — the frontend's identity,
without the proxy's hop.

Every multipart message is recorded with channel, direction and time, as JSON lines
in the `kij-frames/1` format (docs/capture-format.md; docs/tap.md) to

    <jupyter runtime dir>/kij-tap/<kernel-id>.jsonl      always
    $KIJ_TAP_TRACE                                       as well, when set

Recording happens on a thread of its own, from the monitor copies, in two speeds:
each copy is *taken* (received, stamped with its time, queued) the moment it
arrives; decoding, checking signatures (the proxy holds the key) and writing JSON
wait until the wire has been quiet for a few milliseconds (or a thousand copies
wait), so they never compete with a reply in flight. t_ms is when the recorder
took the copy, usually within a fraction of a millisecond of the relay. Within one
channel and direction the order is always the wire's. Across channels it is the
order the copies were taken in, with one repair: each device relays a message
*first* and copies it to the recorder after, so a device thread the machine
preempts between the two (a loaded 2-core machine did, for 8 ms) hands over an
execute_request's copy after the kernel's iopub answers to it. A message whose
parent has not been recorded yet therefore waits for it (at most HOLD_S); a parent
that turns up late is written before the first message it caused, with that
message's t_ms — by then it had certainly been relayed — and a note saying how
late its copy came. Under a flood (a cell printing 100,000 lines) taking itself
falls behind, and times lag. The key itself is never written (key_hint).

Lifecycle: SIGINT (the frontend's interrupt, interrupt_mode "signal") is forwarded
with the KernelManager's interrupt_kernel, honouring the real kernel's own
interrupt_mode. When the real kernel exits — after the frontend's shutdown_request
(also the first half of a restart: the frontend then launches a new proxy), or
because it died — the proxy relays what is left and exits too, so the frontend's
manager sees its "kernel" gone. On SIGTERM, and when the parent that launched the
proxy dies (JPY_PARENT_PID), the proxy shuts the real kernel down first. The real
kernel itself gets JPY_PARENT_PID = the proxy, so even SIGKILL of the proxy does
not orphan an ipykernel.

The real kernel's own connection file (kernel-<id>-tapped.json) stays while the
proxy runs: `%connect_info` in a cell reads it. A proxy that exits in order removes
it; for a proxy that cannot (SIGKILL), a guard process started before the file is
written — `sh`, in a session of its own so a signal to the proxy's group misses it —
waits for the pipe from the proxy to close, which the operating system does
whenever the proxy ends, and then removes the file.

While a proxy writes a trace it holds a shared lock on the file (flock; the
operating system drops it when the proxy ends, however it ends): that is how
`kij tap --follow` tells a live trace from a recording.

The proxy listens on loopback only: a connection file asking for any other address
is overridden to 127.0.0.1, with a log line saying so.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import zmq
from zmq.devices import monitored_queue

from kij import trace, wire
from kij.paths import runtime_dir
from kij.sniffer import address, sniffed

CHANNELS = ("shell", "control", "stdin", "iopub", "hb")
ROUTED = ("shell", "control", "stdin")  # ROUTER on the kernel: identities matter
SOCKETS = {  # channel → (the socket the frontend connects to, the one onto the real kernel)
    "shell": ("ROUTER", "DEALER"), "control": ("ROUTER", "DEALER"), "stdin": ("ROUTER", "DEALER"),
    "iopub": ("XPUB", "XSUB"), "hb": ("ROUTER", "DEALER"),
}
MONITOR = "inproc://kij-tap-monitor"  # where every device sends its copies
POLL_S = 0.05  # how often the main thread looks at the kernel process and its parent
QUIET_S = 0.1  # the relays count as done when nothing has moved for this long ...
QUIET_MAX_S = 5.0  # ... or after this, whichever comes first
WRITE_AFTER_QUIET_S = 0.005  # the recorder writes once the wire has been quiet this long ...
TAKEN_MAX = 1000  # ... or when this many copies wait
HOLD_S = 0.25  # a message whose parent is not recorded yet waits at most this long for it
REMEMBERED = 100_000  # the msg_ids recorded lately: a parent is looked up among them
LOOPBACK = "127.0.0.1"
DEFAULT_KERNEL = "python3"


def log(text: str) -> None:
    """One line on stderr: a frontend shows it in its log (JupyterLab: its terminal)."""
    print(f"[kij tap] {text}", file=sys.stderr, flush=True)


# --- where traces go ----------------------------------------------------------------


def trace_dir() -> Path:
    """<jupyter runtime dir>/kij-tap: one trace per kernel id."""
    return runtime_dir() / "kij-tap"


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


# --- the recorder: monitor copies → kij-frames/1 records, on its own thread -----------


class TraceWriter:
    """Appends records to one JSON-lines file. A new file gets the head line first;
    an existing one (the same kernel id after a restart, or a shared KIJ_TAP_TRACE)
    is continued: seq and t_ms go on from where it stopped, after a line that says
    which proxy and kernel write from there on (trace.continued_line)."""

    def __init__(self, path: Path, head: dict):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = trace.taken_up(path)  # (the next seq, the first writer's head), or None
        self.seq = 0 if existing is None else existing[0]
        self.offset = 0.0 if existing is None else self._offset(head, existing[1])
        self.file = open(path, "a", encoding="utf-8")
        trace.hold_writer_lock(self.file)  # `kij tap --follow`: this trace is live
        self.file.write(trace.json_line(head if existing is None else trace.continued_line(head)))
        self.file.flush()

    @staticmethod
    def _offset(head: dict, first_head: dict) -> float:
        """Seconds from the first writer's start to ours: t_ms goes on from there."""
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            return max(0.0, head["tap"]["started"] - float(first_head.get("tap", {}).get("started")))
        return 0.0

    def write(self, record: trace.Record) -> None:
        record.seq = self.seq
        record.t_ms = round(record.t_ms + self.offset * 1000, 3)
        self.seq += 1
        self.file.write(trace.json_line(record))

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()


def tag(channel: str, direction: str) -> bytes:
    """The prefix a device puts before each copy: b"shell to_kernel"."""
    return f"{channel} {direction}".encode()


class Recorder(threading.Thread):
    """Receives the devices' tagged copies on a PULL socket and writes records.

    Two speeds. Each copy is *taken* the moment it arrives: received, stamped with
    its time, queued — a few microseconds. Decoding it, checking its signature and
    writing JSON cost far more, and a frontend waiting on a reply should not pay
    for them on a 2-core machine; so records are *written* once the wire has been
    quiet for WRITE_AFTER_QUIET_S (a few ms: `kij tap --follow` still looks live),
    or when TAKEN_MAX copies wait. Writing stops whenever a new copy waits.

    Records leave in the order taken, except that a message whose parent is not
    recorded yet holds itself and everything after it back until the parent comes
    (it is then written first: see the module's docstring) or hold_s has passed.

    It also notices the one message the proxy's lifecycle cares about: a
    shutdown_request on control (after it, the kernel's exit is no death)."""

    def __init__(self, writers: list[TraceWriter], key: bytes, scheme: str,
                 monitor: zmq.Socket | None = None, t0: float | None = None, hold_s: float = HOLD_S):
        super().__init__(name="kij-tap-recorder", daemon=True)
        self.writers = writers
        self.key = key
        self.scheme = scheme
        self.monitor = monitor  # this thread's alone once started
        self.t0 = time.monotonic() if t0 is None else t0  # t_ms counts from here
        self.taken: collections.deque = collections.deque()  # (t, copy) not yet written
        self.moved = threading.Event()  # set whenever a copy arrived
        self.written = threading.Event()  # set while every copy taken has been written
        self.written.set()
        self.hold_s = hold_s
        self.held: list[trace.Record] = []  # decoded, in order, held back behind one that waits for its parent
        self.recorded: dict[str, None] = {}  # msg_ids decoded so far (the newest REMEMBERED), an ordered set
        self.shutdown_requested = False

    def run(self) -> None:
        try:
            while True:
                if self.monitor.poll(self._wait_ms()):  # blocks in zmq, GIL released
                    self._take(self.monitor.recv_multipart())
                    if len(self.taken) < TAKEN_MAX:
                        continue
                self._write_taken(until_a_copy_waits=len(self.taken) < TAKEN_MAX)
        except zmq.ContextTerminated:  # Tap.close(): the proxy is going
            pass
        finally:
            self.monitor.close(linger=0)
            self._write_taken(until_a_copy_waits=False)
            self.write_held()
            for w in self.writers:
                w.close()

    def _wait_ms(self) -> float | None:
        """How long the next poll may block: until the wire has been quiet long enough
        to write, or until the oldest held message has waited hold_s; else for ever."""
        if self.taken:
            return WRITE_AFTER_QUIET_S * 1000
        if self.held:
            return max(0.0, (self.held[0].t_ms / 1000 + self.hold_s - self._now()) * 1000)
        return None

    def _now(self) -> float:
        return time.monotonic() - self.t0

    def _take(self, copy: list[bytes]) -> None:
        self.written.clear()
        self.taken.append((time.monotonic() - self.t0, copy))
        if copy[0] == b"control to_kernel" and is_shutdown_request(copy[1:]):
            self.shutdown_requested = True
        self.moved.set()

    def _write_taken(self, until_a_copy_waits: bool) -> None:
        while self.taken:
            if until_a_copy_waits and self.monitor.poll(0):
                return  # the wire is busy again: take first, write later
            t, copy = self.taken.popleft()
            self._record(t, copy)
        self._write_ready()
        for w in self.writers:
            with contextlib.suppress(OSError, ValueError):
                w.flush()
        if not self.held and (self.monitor.closed or not self.monitor.poll(0)):
            self.written.set()  # nothing taken is unwritten, and nothing waits to be taken

    def _record(self, t: float, copy: list[bytes]) -> None:
        channel, direction = copy[0].decode().split(" ")
        frames = copy[1:]
        note = None
        if channel == "hb":
            frames = hb_payload(frames)
        elif channel == "iopub" and direction == "to_kernel":
            note = trace.subscription_note(frames)
        self._write(channel, direction, t, frames, note)

    def wait_quiet(self) -> None:
        """Return once no copy has arrived for QUIET_S and every copy is written
        (at most QUIET_MAX_S)."""
        deadline = time.monotonic() + QUIET_MAX_S
        while time.monotonic() < deadline:
            self.moved.clear()
            if not self.moved.wait(QUIET_S) and self.written.wait(max(0.0, deadline - time.monotonic())):
                return

    def _write(self, channel, direction, t, frames, note) -> None:
        """Decode one copy and put it in line: written at once, unless it (or one
        before it) waits for a parent (see _in_line)."""
        try:
            record = trace.record_of(sniffed(channel, direction, t, frames, self.key, self.scheme), 0, note=note)
        except Exception as exc:  # noqa: BLE001 — whatever arrived, the relay goes on
            why = f"kij could not decode it ({exc.__class__.__name__})"
            record = trace.undecoded(channel, direction, t, frames, why)
        self._in_line(record)
        self._write_ready()

    def _in_line(self, record: trace.Record) -> None:
        """Append a record to the held ones — or, when held messages name it as their
        parent (its copy came late), insert it before the first of them, at that one's
        time, saying so."""
        if record.msg_id:
            self.recorded[record.msg_id] = None
            if len(self.recorded) > REMEMBERED:
                del self.recorded[next(iter(self.recorded))]
            caused = next((i for i, r in enumerate(self.held) if r.parent_msg_id == record.msg_id), None)
            if caused is not None:
                first = self.held[caused]
                late = f"its copy reached the recorder {record.t_ms - first.t_ms:.1f} ms after the first message it caused"
                record.note = "; ".join(filter(None, [record.note, late + " (the relay's thread was held up between"
                                                      " relaying and copying): t_ms is that message's, when it had"
                                                      " certainly been relayed"]))
                record.t_ms = first.t_ms
                self.held.insert(caused, record)
                return
        self.held.append(record)

    def _write_ready(self, every: bool = False) -> None:
        """Write held records from the first, up to one whose parent is not recorded
        yet and which has waited less than hold_s (all of them when `every`)."""
        now = self._now()
        while self.held:
            head = self.held[0]
            waits = head.parent_msg_id and head.parent_msg_id not in self.recorded
            if waits and not every and now < head.t_ms / 1000 + self.hold_s:
                return
            self._write_record(self.held.pop(0))

    def write_held(self) -> None:
        """The recorder is ending: write whatever is still held, as it is."""
        self._write_ready(every=True)

    def _write_record(self, record: trace.Record) -> None:
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


# --- the relays: one pyzmq device per channel -----------------------------------------


class Relay(threading.Thread):
    """One channel: monitored_queue(front, back, monitor) until the context ends.

    The device runs in C without the GIL. It returns only by raising
    ContextTerminated (Tap.close terminates the context); then this thread closes
    its three sockets — the front one with a linger, so a last reply still goes out."""

    def __init__(self, channel: str, front: zmq.Socket, back: zmq.Socket, monitor: zmq.Socket):
        super().__init__(name=f"kij-tap-{channel}", daemon=True)
        self.channel, self.front, self.back, self.monitor = channel, front, back, monitor

    def run(self) -> None:
        try:
            monitored_queue(self.front, self.back, self.monitor,
                            tag(self.channel, "to_kernel"), tag(self.channel, "from_kernel"))
        except zmq.ZMQError:  # ContextTerminated: the proxy is going
            pass
        finally:
            self.front.close(linger=1000)
            self.back.close(linger=0)
            self.monitor.close(linger=0)


# --- the proxy ------------------------------------------------------------------------


class Stop(SystemExit):
    """Leave the relay loop: SIGTERM, or the parent is gone.

    Not an Exception: the SIGTERM handler raises it wherever the main thread happens
    to be, and library code there (jupyter_client looking up a kernelspec, say) may
    well say `except Exception` and carry on booting. And a SystemExit, as kij's own
    `Terminated` is: asyncio (under jupyter_client) swallows any other BaseException
    raised in one of its callbacks, which can leave its loop waiting forever."""


class Tap:
    """Frontend-facing sockets, the real kernel, and the relays between them."""

    def __init__(self, connection_file: str, kernel_name: str = DEFAULT_KERNEL):
        from kij.kernel import read_connection_file

        self.connection_file = connection_file
        self.kernel_name = kernel_name
        self.info = read_connection_file(connection_file)
        self.key = wire.key_bytes(self.info["key"])
        self.scheme = self.info.get("signature_scheme", "hmac-sha256")
        self.identity = f"kij-tap-{os.getpid()}".encode()  # the proxy's one identity towards the kernel
        self.t0 = time.monotonic()
        self.started = time.time()
        self.km = None
        self.hurry = False  # set when told to stop: no polite shutdown then
        self.context = zmq.Context()
        self.relays: list[Relay] = []
        self.recorder: Recorder | None = None
        self.guard: subprocess.Popen | None = None
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

        from kij.kernel import SHUTDOWN_WAIT, check_kernel_names, signals_deferred

        check_kernel_names([self.kernel_name])
        runtime = runtime_dir()
        runtime.mkdir(parents=True, exist_ok=True)
        kernel_file = str(runtime / f"kernel-{kernel_id(self.connection_file)}-tapped.json")
        self.guard_kernel_connection_file(kernel_file)
        self.km = KernelManager(
            kernel_name=self.kernel_name, shutdown_wait_time=SHUTDOWN_WAIT, connection_file=kernel_file,
        )
        self.km.load_connection_info({"ip": LOOPBACK, "transport": "tcp", "key": self.key,
                                      "signature_scheme": self.scheme})
        with signals_deferred():  # a SIGTERM now must not strike between spawn and record
            self.km.start_kernel()
        log(f"started the real {self.kernel_name} kernel, PID {self.kernel_pid}, "
            f"connection file {self.km.connection_file}")
        log("that file stays until kij tap exits (%connect_info reads it); a client that connects with it "
            "talks to the real kernel directly, around the tap, and is not recorded")

    def guard_kernel_connection_file(self, path: str) -> None:
        """Before the real kernel's connection file exists: a process that removes it
        once this proxy is gone, even by SIGKILL (see the module docstring)."""
        self.guard = subprocess.Popen(
            ["/bin/sh", "-c", 'cat >/dev/null; exec rm -f -- "$1"', "kij-tap-guard", path],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # the frontend's signal to our process group misses it
        )

    def release_guard(self) -> None:
        """Close our end of the guard's pipe: it removes the file (if still there) and exits."""
        if self.guard is None:
            return
        with contextlib.suppress(OSError):
            self.guard.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.guard.wait(timeout=10)

    @property
    def kernel_pid(self) -> int | None:
        process = self.kernel_process
        return process.pid if process is not None else None

    @property
    def kernel_process(self):
        provisioner = self.km.provisioner if self.km is not None else None
        return getattr(provisioner, "process", None)

    def _socket(self, kind: int, **options) -> zmq.Socket:
        sock = self.context.socket(kind)
        for name, value in options.items():
            sock.setsockopt(getattr(zmq, name), value)
        return sock

    def open_relays(self) -> None:
        """For each channel: the socket the frontend connects to, the one onto the kernel,
        a PUSH for the copies — and a Relay thread that owns the three from then on."""
        front_info = {**self.info, "ip": self.frontend_ip()}
        kernel_info = self.km.get_connection_info(session=False)
        for channel, (front_name, back_name) in SOCKETS.items():
            front_kind, back_kind = getattr(zmq, front_name), getattr(zmq, back_name)
            sockets = []
            try:
                front = self._socket(front_kind, SNDHWM=0, RCVHWM=0)  # never drop iopub under a flood
                sockets.append(front)
                front.bind(address(front_info, channel))
                back = self._socket(back_kind, SNDHWM=0, RCVHWM=0)
                sockets.append(back)
                if channel in ROUTED:  # shell and stdin MUST share it: see the docstring
                    back.setsockopt(zmq.IDENTITY, self.identity)
                back.connect(address(kernel_info, channel))
                monitor = self._socket(zmq.PUSH, SNDHWM=0)  # a slow recorder never blocks a relay
                sockets.append(monitor)
                monitor.connect(MONITOR)
            except Exception:
                for sock in sockets:
                    sock.close(linger=0)
                raise
            relay = Relay(channel, front, back, monitor)
            relay.start()
            self.relays.append(relay)

    def trace_head(self) -> dict:
        from kij.kernel import kernelspec_language

        language = None
        with contextlib.suppress(Exception):
            language = kernelspec_language(self.kernel_name)
        facts = trace.KernelFacts(
            name=self.kernel_name, connection_file=str(self.connection_file), pid=self.kernel_pid,
            language=language, transport=self.info.get("transport", "tcp"), ip=self.frontend_ip(),
            ports={ch: self.info.get(f"{ch}_port") for ch in CHANNELS},
            signature_scheme=self.scheme, key_hint=trace.key_hint(self.key), log_readable=False,
        )
        tap = {
            "proxy_pid": os.getpid(), "started": self.started,
            "kernel_connection_file": self.km.connection_file,
            "kernel_ports": {ch: self.km.get_connection_info(session=False).get(f"{ch}_port") for ch in CHANNELS},
            "sockets": {ch: list(kinds) for ch, kinds in SOCKETS.items()},
            "signatures": "checked by the proxy with the connection key as it relayed them",
            "kernel_sees_identity": self.identity.decode(),
            "routing": ("frames as relayed between the proxy's sockets; the real kernel's ROUTER sees one more "
                        "routing frame first (kernel_sees_identity), frames from <IDS|MSG> on are unchanged"),
        }
        return trace.head_of(trace.Capture(kernel=facts, tap=tap, takeaway=(
            "This is your frontend's own traffic: every request it sent, every reply and broadcast "
            "the kernel sent back, relayed unchanged by kij tap.")))

    def start_recorder(self) -> list[Path]:
        """The trace files, and the recorder thread with its PULL socket bound (before any
        relay starts, so that no copy is lost)."""
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
        monitor = self._socket(zmq.PULL, RCVHWM=0)
        monitor.bind(MONITOR)
        self.recorder = Recorder(writers, self.key, self.scheme, monitor, self.t0)
        self.recorder.start()
        for w in writers:
            log(f"recording to {w.path}")
        return [w.path for w in writers]

    # -- while it runs: the relays need nothing from this thread --

    def wait_for_kernel(self, timeout: float) -> int | None:
        """The real kernel's exit code once it has exited, else None after timeout."""
        process = self.kernel_process
        if process is None:
            return 0
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kernel_exit_code(self) -> int | None:
        process = self.kernel_process
        return process.poll() if process is not None else 0

    def check_parent(self) -> None:
        if os.getppid() != self.parent_pid:
            raise Stop(f"the process that launched kij tap (PID {self.parent_pid}) is gone")

    def loop(self) -> int:
        """Watch the real kernel until it exits (→ its fate is ours) or Stop is raised."""
        while True:
            code = self.wait_for_kernel(POLL_S)
            self.check_parent()
            if code is not None:
                self.recorder.wait_quiet()  # what the kernel said last (shutdown_reply, iopub) is out
                if self.recorder.shutdown_requested:
                    log(f"the {self.kernel_name} kernel shut down as the frontend asked; kij tap exits too")
                    return 0
                log(f"the {self.kernel_name} kernel died (exit code {code}); kij tap exits so the frontend sees it")
                return 1

    # -- tearing down --

    def close(self) -> None:
        """Shut the real kernel down (if it still runs), let the relays fall quiet, then
        end the context: every device and the recorder stop and close their sockets."""
        from kij.kernel import Kernel, shutdown

        if self.km is not None and self.hurry:
            # told to stop (SIGTERM, launcher gone): whoever told us will not wait
            # for a polite shutdown, so end the real kernel at once
            with contextlib.suppress(Exception):
                self.km.shutdown_kernel(now=True)
            with contextlib.suppress(OSError):
                os.unlink(self.km.connection_file)
        elif self.km is not None:
            shutdown([Kernel(self.kernel_name, client=None, manager=self.km)])
        if self.recorder is not None and self.recorder.is_alive():
            self.recorder.wait_quiet()
        self.context.term()  # blocks until each thread has closed its sockets (fronts linger 1 s)
        for thread in [*self.relays, *([self.recorder] if self.recorder else [])]:
            thread.join(timeout=10)
        self.release_guard()


def run(connection_file: str, kernel_name: str = DEFAULT_KERNEL) -> int:
    tap = Tap(connection_file, kernel_name)

    def on_sigint(signum, frame):  # the frontend's interrupt (interrupt_mode "signal")
        if tap.km is not None and tap.kernel_exit_code() is None:
            log(f"interrupt: passing it on to the {kernel_name} kernel")
            with contextlib.suppress(Exception):
                tap.km.interrupt_kernel()

    def on_sigterm(signum, frame):
        # first the one thing a SIGKILL that may follow would leave behind
        if tap.km is not None:
            with contextlib.suppress(OSError):
                os.unlink(tap.km.connection_file)
        raise Stop("SIGTERM")

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        tap.start_kernel()
        tap.start_recorder()
        tap.open_relays()
        return tap.loop()
    except Stop as why:
        log(f"{why}: shutting the {kernel_name} kernel down")
        tap.hurry = True
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # cleanup is not to be cut short
        tap.close()


def main(argv: list[str] | None = None) -> None:
    from kij.errors import KijError

    parser = argparse.ArgumentParser(prog="python -m kij.tap", description=__doc__.splitlines()[0])
    parser.add_argument("-f", dest="connection_file", required=True, help="the frontend's connection file")
    parser.add_argument("--kernel", default=DEFAULT_KERNEL, help="the kernelspec to start behind the tap")
    args, _ = parser.parse_known_args(argv)  # jupyter_client appends extra arguments (`jupyter run`: file names)
    try:
        sys.exit(run(args.connection_file, args.kernel))
    except KijError as exc:
        log(str(exc))
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
