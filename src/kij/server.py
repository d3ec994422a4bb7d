"""The server tier: a real jupyter_server kij started (or attached to), its REST API
and a kernel's channels websocket — and never leaking a server, a kernel or a directory.

    with started(timeout=60) as server:          # jupyter_server on 127.0.0.1, kij's own
        session = server.post("api/sessions", {...})
        with server.websocket(kernel_id) as ws:  # v1.kernel.websocket.jupyter.org
            ws.send("shell", header, {}, {}, content)

    with attached(url, token) as server:          # someone else's: never shut down

A server kij starts listens on loopback, on a free port, with a random token, and
keeps its runtime, data, config and root directories in one private temporary
directory. kij waits for it through its REST API (GET /api/status until it answers,
with a deadline). On every path — the end, an exception, Ctrl-C, SIGTERM, the server
dying — kij asks it to shut down (POST /api/shutdown: its kernels first, then itself),
makes sure the kernels' processes are gone (their PIDs come from the tap's traces),
and removes the temporary directory.

The websocket framing is here too, in plain code (jupyter_server's
docs/source/developers/websocket-protocols.rst). A v1 message is

    u64 n (little-endian) · n u64 offsets · channel · header · parent_header · metadata · content · buffers…

where offset i is where part i starts and the last offset is where the message ends.
No key, no signature: the server signs what it passes on to the kernel. Without a
subprotocol the server speaks the legacy form: one JSON text per message, with a
"channel" field.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kij import processes
from kij.errors import KernelFault, UserError

V1 = "v1.kernel.websocket.jupyter.org"
PARTS = ("header", "parent_header", "metadata", "content")  # after the channel, before buffers
BOOT_TIMEOUT = 60.0
SHUTDOWN_WAIT = 20.0  # the server shuts its kernels down first; give it time under load
HTTP_TIMEOUT = 30.0
DYING_WAIT = 5.0  # after a failed call: how long kij waits to see whether its server has exited


class ServerDied(KernelFault):
    """The jupyter_server process kij started is gone: exit 1."""


# --- the v1 websocket framing --------------------------------------------------------------


def encode_v1(channel: str, parts: list[bytes]) -> bytes:
    """channel + [header, parent_header, metadata, content, *buffers] → one binary websocket message."""
    chunks = [channel.encode(), *parts]
    start = 8 * (1 + len(chunks) + 1)  # the count, one offset per chunk, and the end
    offsets = [start]
    for chunk in chunks:
        offsets.append(offsets[-1] + len(chunk))
    table = len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets)
    return table + b"".join(chunks)


def decode_v1(data: bytes) -> tuple[list[int], str, list[bytes]]:
    """One binary websocket message → (its offsets, its channel, [header, parent_header, metadata, content, *buffers])."""
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes: too short for a v1 message")
    n = int.from_bytes(data[:8], "little")
    if n < 2 or 8 * (n + 1) > len(data):
        raise ValueError(f"offset count {n} does not fit a {len(data)}-byte message")
    offsets = [int.from_bytes(data[8 * (i + 1):8 * (i + 2)], "little") for i in range(n)]
    if offsets != sorted(offsets) or offsets[-1] > len(data):
        raise ValueError(f"offsets {offsets} are not in order within {len(data)} bytes")
    channel = data[offsets[0]:offsets[1]].decode()
    return offsets, channel, [data[offsets[i]:offsets[i + 1]] for i in range(1, n - 1)]


def pack(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def new_header(msg_type: str, session: str) -> dict:
    """A header as a browser writes one: msg_id, session, username, date, msg_type, version."""
    import uuid
    from datetime import datetime, timezone

    return {"msg_id": uuid.uuid4().hex, "session": session, "username": "kij", "msg_type": msg_type,
            "date": datetime.now(timezone.utc).isoformat(), "version": "5.3"}


@dataclass
class WsMessage:
    """One websocket message as it crossed: its direction, time, bytes and parts."""

    direction: str  # to_kernel (kij → server) | from_kernel (server → kij)
    t: float  # time.time(): one clock with the tap's trace (wall time, same machine)
    raw: bytes | str  # bytes: v1 binary; str: legacy JSON text
    channel: str = ""
    offsets: list[int] = field(default_factory=list)
    parts: list[bytes] = field(default_factory=list)  # v1: header, parent_header, metadata, content, buffers
    message: dict = field(default_factory=dict)  # decoded: header, parent_header, metadata, content

    @property
    def msg_id(self) -> str:
        return self.message.get("header", {}).get("msg_id", "")

    @property
    def parent_id(self) -> str:
        return (self.message.get("parent_header") or {}).get("msg_id", "")

    @property
    def msg_type(self) -> str:
        return self.message.get("header", {}).get("msg_type", "")


def v1_message(direction: str, data: bytes) -> WsMessage:
    offsets, channel, parts = decode_v1(data)
    message = {name: json.loads(part) for name, part in zip(PARTS, parts)}
    return WsMessage(direction, time.time(), data, channel, offsets, parts, message)


def legacy_message(direction: str, text: str) -> WsMessage:
    message = json.loads(text)
    return WsMessage(direction, time.time(), text, message.get("channel", ""), message=message)


# --- the websocket ------------------------------------------------------------------------


class Channels:
    """A kernel's channels websocket, as a browser tab opens it; every message kept in order."""

    def __init__(self, ws, v1: bool, messages: list[WsMessage]):
        self.ws = ws
        self.v1 = v1
        self.messages = messages  # shared by every websocket of one lesson: one timeline
        self.session = secrets.token_hex(16)

    def send(self, channel: str, msg_type: str, content: dict) -> WsMessage:
        """Send a request with no key and no signature: the server signs it for the kernel."""
        message = {"header": new_header(msg_type, self.session), "parent_header": {}, "metadata": {},
                   "content": content}
        if self.v1:
            sent = v1_message("to_kernel", encode_v1(channel, [pack(message[p]) for p in PARTS]))
            self.ws.send_binary(sent.raw)
        else:
            sent = legacy_message("to_kernel", json.dumps({**message, "channel": channel}))
            self.ws.send(sent.raw)
        self.messages.append(sent)
        return sent

    def receive(self, timeout: float) -> WsMessage:
        import websocket

        self.ws.settimeout(timeout)
        try:
            opcode, data = self.ws.recv_data()
        except websocket.WebSocketTimeoutException:
            raise TimeoutError(f"nothing on the websocket for {timeout:g} s") from None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise ConnectionError("the server closed the websocket")
        got = v1_message("from_kernel", data) if opcode == websocket.ABNF.OPCODE_BINARY \
            else legacy_message("from_kernel", data.decode())
        self.messages.append(got)
        return got

    def answered(self, request: WsMessage, timeout: float) -> list[WsMessage]:
        """Every message parented by request until both its reply and `status: idle` came."""
        deadline = time.monotonic() + timeout
        reply = idle = None
        got = []
        while reply is None or idle is None:
            left = deadline - time.monotonic()
            if left <= 0:
                waiting = "reply" if reply is None else "status idle"
                raise KernelFault(f"{request.msg_type} got no {waiting} over the websocket within {timeout:g} s")
            try:
                msg = self.receive(left)
            except TimeoutError:
                continue
            if msg.parent_id != request.msg_id:
                continue
            got.append(msg)
            if msg.msg_type.endswith("_reply"):
                reply = msg
            if msg.msg_type == "status" and msg.message["content"].get("execution_state") == "idle":
                idle = msg
        return got

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()


# --- a server: kij's own, or someone else's ------------------------------------------------


@dataclass
class Server:
    """A jupyter_server reachable at url with token; `process` is set only when kij started it."""

    url: str
    token: str
    process: subprocess.Popen | None = None
    home: Path | None = None  # kij's own: the private temporary directory (runtime/, data/, config/, root/)
    log: Path | None = None
    kernels_started: list[str] = field(default_factory=list)  # kernel ids kij created (shut down at the end)
    pids: set = field(default_factory=set)  # processes behind kij's kernels (from the tap's traces)

    @property
    def owned(self) -> bool:
        return self.process is not None

    @property
    def runtime(self) -> Path | None:
        return self.home / "runtime" if self.home else None

    @property
    def root(self) -> Path | None:
        return self.home / "root" if self.home else None

    @property
    def token_hint(self) -> str:
        return f"{self.token[:4]}…" if self.token else "(none)"

    def check_alive(self, during: str, failed: bool = False) -> None:
        """ServerDied if kij's server has exited. After a failed call (`failed`) give a dying
        server a moment to be reaped: its sockets close before its exit can be seen."""
        if self.process is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=DYING_WAIT if failed else 0)
        if self.process.poll() is not None:
            raise ServerDied(f"jupyter_server (PID {self.process.pid}) exited with code "
                             f"{self.process.returncode} {during}; kij removed what it had started")

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = HTTP_TIMEOUT):
        """One REST call; its decoded JSON (None for an empty body). HTTP errors pass through."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/{path}", data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            text = reply.read()
        return json.loads(text) if text.strip() else None

    def call(self, method: str, path: str, body: dict | None = None, during: str = ""):
        """`request`, saying what went wrong in one line: the server died, or refused."""
        try:
            return self.request(method, path, body)
        except urllib.error.HTTPError as exc:
            self.check_alive(during, failed=exc.code >= 500)
            raise KernelFault(f"jupyter_server answered {method} /{path.split('?')[0]} with "
                              f"{exc.code} {exc.reason}") from None
        except (OSError, ValueError) as exc:
            self.check_alive(during, failed=True)
            raise KernelFault(f"{method} /{path.split('?')[0]} failed {during}: {exc}") from None

    def websocket(self, kernel_id: str, v1: bool = True, messages: list | None = None,
                  timeout: float = HTTP_TIMEOUT) -> Channels:
        """The kernel's channels websocket, as a browser tab opens it (v1, or the legacy JSON form)."""
        import websocket

        ws_url = self.url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels?session_id={secrets.token_hex(16)}"
        ws = websocket.create_connection(ws_url, timeout=timeout, subprotocols=[V1] if v1 else None,
                                         header=[f"Authorization: token {self.token}"])
        if v1 and ws.getsubprotocol() != V1:
            ws.close()
            raise KernelFault(f"the server did not agree to {V1} (it chose {ws.getsubprotocol()!r})")
        return Channels(ws, v1, messages if messages is not None else [])

    def new_kernel(self, name: str | None = None, during: str = "") -> str:
        body = {"name": name} if name else {}
        kernel = self.call("POST", "api/kernels", body, during=during)
        self.kernels_started.append(kernel["id"])
        return kernel["id"]

    def new_session(self, path: str, kernel_name: str, during: str = "") -> dict:
        session = self.call("POST", "api/sessions",
                            {"path": path, "name": Path(path).name, "type": "notebook", "kernel": {"name": kernel_name}},
                            during=during)
        self.kernels_started.append(session["kernel"]["id"])
        return session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(port: int, root: Path) -> list[str]:
    """The server's command line; the token goes in its environment (JUPYTER_TOKEN), where
    other users cannot read it, not on the command line, where `ps` shows it to anyone."""
    return [sys.executable, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
            *(["--allow-root"] if os.geteuid() == 0 else [])]


def _launch(home: Path) -> Server:
    """Spawn jupyter_server with private directories; its own session, so a Ctrl-C at the
    terminal reaches kij, which then shuts the server down in order."""
    from kij.kernel import kernel_env

    for name in ("runtime", "data", "config", "root"):
        (home / name).mkdir()
    token, port = secrets.token_hex(24), free_port()
    log = home / "server.log"
    env = kernel_env({**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_DATA_DIR": str(home / "data"),
                      "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_TOKEN": token, "KIJ_TAP_TRACE": ""})
    env.pop("KIJ_TAP_TRACE")  # the tap writes only into the private runtime dir
    with open(log, "wb") as out:
        process = subprocess.Popen(_command(port, home / "root"), env=env, cwd=home / "root",
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    return Server(f"http://127.0.0.1:{port}", token, process, home, log)


def wait_serving(server: Server, timeout: float) -> None:
    """Poll GET /api/status until it answers; between tries, wait on the process itself."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            server.request("GET", "api/status", timeout=5)
            return
        except (OSError, ValueError):
            pass
        try:
            server.process.wait(timeout=0.05)  # returns only if the server exited
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                raise KernelFault(f"jupyter_server did not answer GET /api/status within {timeout:g} s") from None
            continue
        tail = server.log.read_text(errors="replace").strip().splitlines()[-1:] if server.log.exists() else []
        raise ServerDied(f"jupyter_server exited with code {server.process.returncode} while starting"
                         + (f": {tail[0]}" if tail else ""))


@contextlib.contextmanager
def started(timeout: float = BOOT_TIMEOUT):
    """A jupyter_server of kij's own; on every path its kernels and itself are shut down
    and its private directory removed. A port taken in between is tried again."""
    from kij.kernel import signals_deferred

    home = Path(tempfile.mkdtemp(prefix="kij-server-"))
    server = None
    try:
        for attempt in range(3):
            with signals_deferred():  # no Ctrl-C between "spawned" and "recorded"
                server = _launch(home) if attempt == 0 else _relaunch(home)
            try:
                wait_serving(server, timeout)
                break
            except ServerDied:
                if "already in use" not in server.log.read_text(errors="replace") or attempt == 2:
                    raise
        yield server
    finally:
        if server is not None:
            with signals_deferred():
                shutdown(server)
        shutil.rmtree(home, ignore_errors=True)


def _relaunch(home: Path) -> Server:
    for name in ("runtime", "data", "config", "root"):
        shutil.rmtree(home / name, ignore_errors=True)
    return _launch(home)


def shutdown(server: Server) -> None:
    """Ask the server to shut down (its kernels first); if it will not, SIGTERM, then
    SIGKILL; then make sure no kernel process it ran for kij survives it."""
    proc = server.process
    if proc.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            server.request("POST", "api/shutdown", timeout=10)
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=SHUTDOWN_WAIT if sig is None else 5)
                break
            except subprocess.TimeoutExpired:
                continue
    server.pids |= kernel_pids(server)
    processes.reap(server.pids)


def kernel_pids(server: Server) -> set[int]:
    """The tap proxies and real kernels behind this server's kernels, from their traces' heads."""
    from kij import trace

    pids = set()
    for path in (server.runtime / "kij-tap").glob("*.jsonl") if server.runtime else []:
        with contextlib.suppress(OSError, ValueError):
            for line in path.read_text(errors="replace").split("\n"):
                item = trace.read_line(line, first=True)
                if item is None or item.kind == "record":
                    continue
                head = item.head
                tap, kernel = head.get("tap") or {}, head.get("kernel")
                kernel = kernel if isinstance(kernel, dict) else {}  # a continued_by line names it
                pids |= {p for p in (tap.get("proxy_pid"), kernel.get("pid"), head.get("proxy_pid"),
                                     head.get("kernel_pid")) if isinstance(p, int)}
    return pids


# --- someone else's server -----------------------------------------------------------------


def check_url(url: str) -> str:
    """http(s)://host[:port][/base] → without a trailing slash or a query (a token in it is dropped)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"--url must be http://HOST:PORT[/BASE], not {shown_url(url)!r}")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def shown_url(url: str) -> str:
    """A URL as kij prints it: never its query (a token may be in it)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@contextlib.contextmanager
def attached(url: str, token: str, kernel_id: str | None = None):
    """Someone else's server: checked (token, kernel) before anything is created; only a
    kernel kij created is shut down afterwards — the server and a named kernel never."""
    server = Server(check_url(url), token)
    probe(server, kernel_id)
    try:
        yield server
    finally:
        for kid in server.kernels_started:
            with contextlib.suppress(OSError, ValueError):
                server.request("DELETE", f"api/kernels/{kid}", timeout=HTTP_TIMEOUT)


def probe(server: Server, kernel_id: str | None) -> None:
    """A refused token, an unreachable URL or an unknown kernel → one UserError line."""
    where = shown_url(server.url)
    try:
        server.request("GET", "api/status", timeout=10)
        if kernel_id:
            server.request("GET", f"api/kernels/{kernel_id}", timeout=10)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise UserError(f"{where} refused the token {server.token_hint} ({exc.code} {exc.reason})") from None
        if exc.code == 404 and kernel_id:
            raise UserError(f"{where} has no kernel {kernel_id!r} (GET /api/kernels lists them)") from None
        raise UserError(f"{where} answered {exc.code} {exc.reason}: is it a Jupyter server?") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc.__class__.__name__
        raise UserError(f"cannot reach a Jupyter server at {where} ({reason})") from None
