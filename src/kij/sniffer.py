"""kij's own raw ZeroMQ sockets on a kernel's five ports, and everything they carry.

This is the one place in kij that opens raw sockets onto a kernel. It connects the
way any frontend does, from the ports and key in the connection info:

    channel   our socket   the kernel's    what travels
    shell     DEALER       ROUTER          requests and their replies
    control   DEALER       ROUTER          the same, on a lane that never queues behind code
    stdin     DEALER       ROUTER          input_request from the kernel, our input_reply
    iopub     SUB          PUB (XPUB)      broadcasts: status, streams, results
    hb        REQ          REP             raw bytes, echoed back

Shell and stdin share one identity: the kernel sends input_request to whichever
identity sent the execute_request, so that is where our stdin socket must be.

Every multipart message sent or received is appended to `capture` with its arrival
time and channel, exactly as the bytes travelled:

    with Sniffer(connection_info) as sn:
        sn.wait_for_iopub()                               # kernel_info on control
        req = sn.request("shell", "execute_request", {...})
        done = await_reply(sn.poll, req.msg_id, "execute_reply", 10)   # reply + idle
        echo = sn.ping(b"hello")
        sn.capture                                        # every frame, both ways

Waiting is on sockets with a deadline, never sleeping, through kij's one
send-and-wait, `kij.kernel.await_reply`, fed by `Sniffer.poll`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from kij import wire
from kij.kernel import POLL_MS, await_reply, until_live

CHANNELS = ("shell", "control", "stdin", "iopub")  # the signed, JSON-speaking ones


@dataclass
class Sniffed:
    """One multipart message as it crossed the wire, and what kij made of it."""

    channel: str  # shell | control | stdin | iopub | hb
    direction: str  # "to_kernel" (sent by kij) | "from_kernel"
    t: float  # seconds since the sniffer opened its sockets
    frames: list[bytes]
    message: wire.Message | None = None  # None on hb, or when the frames are not a message
    signature_valid: bool | None = None  # recomputed by kij; None when nothing was signed
    problem: str | None = None  # why the frames could not be decoded

    @property
    def msg_type(self) -> str:
        return self.message.msg_type if self.message else ""

    @property
    def msg_id(self) -> str:
        return self.message.msg_id if self.message else ""

    @property
    def parent_id(self) -> str:
        return self.message.parent_id if self.message else ""

    @property
    def content(self) -> dict:
        return self.message.content if self.message else {}


def sniffed(channel: str, direction: str, t: float, frames: list[bytes],
            key: str | bytes, scheme: str = "hmac-sha256") -> Sniffed:
    """Decode one multipart message and check its signature with key. Never raises
    for what came off the wire: frames that are not a message get `problem` set."""
    c = Sniffed(channel=channel, direction=direction, t=t, frames=[bytes(f) for f in frames])
    if channel != "hb":
        try:
            c.message = wire.parse(c.frames)
        except wire.WireError as exc:
            c.problem = str(exc)
        else:
            if c.message.signature or key:
                try:
                    c.signature_valid = wire.verify(key, c.message.signature, c.message.signed_parts, scheme)
                except wire.WireError as exc:  # an unknown signature scheme
                    c.problem = str(exc)
    return c


def address(info: dict, port_name: str) -> str:
    """Where a channel lives: tcp://IP:PORT (or ipc://IP-PORT)."""
    port = info[f"{port_name}_port"]
    if info.get("transport", "tcp") == "ipc":
        return f"ipc://{info['ip']}-{port}"
    return f"{info.get('transport', 'tcp')}://{info['ip']}:{port}"


class Sniffer:
    """kij's five sockets on one kernel, recording every frame."""

    def __init__(self, connection_info: dict, username: str = "kij", send_timeout: float | None = None):
        """send_timeout: how long a send may wait for a connection to hand the message to
        (zmq.Again after it); by default a send to a peer that never connects waits forever."""
        self.info = connection_info
        self.key = connection_info.get("key", b"")
        self.scheme = connection_info.get("signature_scheme", "hmac-sha256")
        self.session = uuid.uuid4().hex
        self.identity = f"kij-{self.session[:8]}".encode()
        self.username = username
        self.capture: list[Sniffed] = []
        self.sockets: dict = {}
        self._context = None
        self._t0 = 0.0
        self._linger_ms: dict[str, int] = {}  # channel → how long close() lets queued messages leave
        self._send_timeout = send_timeout

    # -- opening and closing --

    def __enter__(self) -> "Sniffer":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        import zmq

        self._context = zmq.Context()
        kinds = {"shell": zmq.DEALER, "control": zmq.DEALER, "stdin": zmq.DEALER,
                 "iopub": zmq.SUB, "hb": zmq.REQ}
        for channel, kind in kinds.items():
            sock = self._context.socket(kind)
            sock.setsockopt(zmq.LINGER, 0)
            if channel in ("shell", "stdin"):
                sock.setsockopt(zmq.IDENTITY, self.identity)
            if channel == "iopub":
                sock.setsockopt(zmq.SUBSCRIBE, b"")  # every topic
            if channel == "hb":
                sock.setsockopt(zmq.REQ_RELAXED, 1)  # may ping again after an unanswered ping
            self._curve(sock)
            if self._send_timeout is not None:
                sock.setsockopt(zmq.SNDTIMEO, int(self._send_timeout * 1000))
            sock.connect(address(self.info, channel))
            self.sockets[channel] = sock
        self._t0 = time.monotonic()

    @property
    def opened_at(self) -> float:
        """When the sockets opened (a time.monotonic() reading): each Sniffed's `t` counts from it."""
        return self._t0

    def subscribe(self, topic: str) -> None:
        """Subscribe kij's iopub socket to one more topic (it starts subscribed to every
        topic, ''). A kernel whose iopub is an XPUB sees each new subscription."""
        import zmq

        self.sockets["iopub"].setsockopt(zmq.SUBSCRIBE, topic.encode())

    def _curve(self, sock) -> None:
        """When the connection info carries CurveZMQ keys (jupyter_client's transport_encryption),
        encrypt this socket with them, as jupyter_client's own client does: the kernel's
        public key is the server key, and the same key pair is the client's."""
        public, secret = self.info.get("curve_publickey"), self.info.get("curve_secretkey")
        if public and secret:
            sock.curve_secretkey = wire.key_bytes(secret)
            sock.curve_publickey = wire.key_bytes(public)
            sock.curve_serverkey = wire.key_bytes(public)

    def deliver_before_closing(self, channel: str, seconds: float = 2.0) -> None:
        """Let close() wait up to `seconds` for messages still queued on channel to
        reach the kernel (by default close() drops them at once)."""
        self._linger_ms[channel] = int(seconds * 1000)

    def close(self) -> None:
        for channel, sock in self.sockets.items():
            sock.close(linger=self._linger_ms.get(channel, 0))
        self.sockets.clear()
        if self._context is not None:
            self._context.term()
            self._context = None

    # -- recording --

    def _record(self, channel: str, direction: str, frames: list[bytes]) -> Sniffed:
        c = sniffed(channel, direction, time.monotonic() - self._t0, frames, self.key, self.scheme)
        self.capture.append(c)
        return c

    # -- sending --

    def send(self, channel: str, frames: list[bytes]) -> Sniffed:
        """Send frames exactly as given (a forgery, a replay) and record them."""
        self.sockets[channel].send_multipart(frames)
        return self._record(channel, "to_kernel", frames)

    def request(self, channel: str, msg_type: str, content: dict, parent_header: dict | None = None,
                metadata: dict | None = None, header: dict | None = None) -> Sniffed:
        """Build a message with kij.wire, sign it with the connection key, send it.
        `header` adds fields to its header (e.g. {"subshell_id": ...})."""
        msg = wire.build(msg_type, content, key=self.key, session=self.session,
                         parent_header=parent_header, metadata=metadata,
                         scheme=self.scheme, username=self.username, header=header)
        return self.send(channel, msg.frames)

    # -- receiving --

    def poll(self, timeout_ms: int) -> list[Sniffed]:
        """Wait up to timeout_ms for shell/control/stdin/iopub; record and return
        everything that arrived."""
        import zmq

        poller = zmq.Poller()
        for channel in CHANNELS:
            poller.register(self.sockets[channel], zmq.POLLIN)
        ready = dict(poller.poll(timeout_ms))
        got = []
        for channel in CHANNELS:
            sock = self.sockets[channel]
            while sock in ready and sock.poll(0, zmq.POLLIN):
                got.append(self._record(channel, "from_kernel", sock.recv_multipart()))
        return got

    def exchange(self, channel: str, msg_type: str, content: dict, timeout: float,
                 metadata: dict | None = None, **options):
        """Send a request (see `request`) and wait for its reply and `status: idle`
        (see `answer`); returns (request, Exchange)."""
        request = self.request(channel, msg_type, content, metadata=metadata)
        return request, self.answer(request, timeout, **options)

    def answer(self, request: Sniffed, timeout: float, **options):
        """The Exchange for a message kij sent earlier on this sniffer: its reply on the
        channel it went out on (only a *_request has one; comm messages get none) and its
        `status: idle`. What already arrived after it was sent counts, then
        `kij.kernel.await_reply` waits for the rest (its options pass through) — so
        several requests can be in flight at once and be waited for in any order."""
        reply_type = request.msg_type.replace("_request", "_reply") if request.msg_type.endswith("_request") else None
        since = next(i for i, c in enumerate(self.capture) if c is request)
        earlier = [c for c in self.capture[since + 1:] if c.direction == "from_kernel"]
        return await_reply(self.poll, request.msg_id, reply_type, timeout, request.channel,
                           earlier=earlier, **options)

    def wait_for_iopub(self, timeout: float = 10.0) -> Sniffed:
        """Ask kernel_info on control until our SUB socket is provably subscribed.

        A SUB socket misses whatever is published before its subscription reaches the
        kernel. Proof that it has: the `status: idle` broadcast of our own
        kernel_info_request (kij waits for it, so it cannot straggle into what comes
        next) — or, when no `busy` was seen either, the kernel's `iopub_welcome`, sent
        to each new subscriber by kernels that implement it. Returns the reply.
        """
        exchange = until_live(lambda: self.request("control", "kernel_info_request", {}).msg_id,
                              self.poll, timeout, "control", accept_welcome=True)
        if exchange is None:
            raise TimeoutError("the kernel's iopub never reached kij's SUB socket")
        return exchange.reply

    def ping(self, payload: bytes, timeout: float = 5.0) -> Sniffed | None:
        """Send raw bytes to the heartbeat; return the echo, or None if none came."""
        import zmq

        sock = self.sockets["hb"]
        self.send("hb", [payload])
        if not sock.poll(int(timeout * 1000), zmq.POLLIN):
            return None
        return self._record("hb", "from_kernel", sock.recv_multipart())
