"""`kij server` — the half of Jupyter between the browser and the kernel.

What the learner should feel: a notebook tab never talks to the kernel. It talks to
jupyter_server, over one websocket, in messages with no key and no signature; the
server signs each one with the connection file's key and passes the very same header,
parent_header, metadata and content bytes on to the kernel over ZeroMQ, and passes the
kernel's replies back. The document is the server's too: it writes the .ipynb file,
and the kernel only ever sees the code of the cells it is asked to run. Close the
tab and the kernel lives on; a restart through REST is what forgets.

kij starts a real jupyter_server of its own (kij.server), creates a session through
REST as JupyterLab does — its kernel is kij's tap wrapping python3, so the server's
ZeroMQ leg is recorded too (kij.tap) — and plays the browser over a real websocket.
Every claim is computed from this run: the websocket bytes kij sent and got, the
tap's trace of the ZeroMQ leg, signatures recomputed with the connection file's key,
the notebook file on disk. Attached to someone else's server (--url), kij runs one
cell and shows the websocket leg only: the ZeroMQ leg is inside that server.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from kij import server as srv
from kij import trace, wire
from kij.errors import KernelFault, UserError
from kij.trace import Act, Capture, Frame, KernelFacts, Record

NOTEBOOK = "kij-notebook.ipynb"
KERNEL = "kij-tap"  # the tap wrapping python3: the server's ZeroMQ leg is recorded
CODE = "secret = 6 * 7\nprint('secret is set')"
READ = "secret"
ATTACHED_CODE = "print(1)"  # no value, no assignment: IPython's `_` and Out stay as they were
ATTACHED_TAKEAWAY = (
    "The browser holds no key: kij's websocket message carried no signature and the kernel ran it "
    "all the same — the server in between signs (run kij server without --url to see it)."
)
MARKDOWN = "## kij's notebook\nThis markdown is for people: only the server ever reads it."

TAKEAWAY = (
    "The browser never holds the key: it sends unsigned messages over a websocket to "
    "jupyter_server, which signs them for the kernel — and the server, not the kernel, "
    "owns the notebook file."
)


@dataclass
class Pair:
    """One message seen on both legs: the websocket and the server's ZeroMQ socket."""

    msg_type: str
    msg_id: str
    direction: str
    ws_seq: int | None  # its # in the capture (both legs numbered in one order)
    zmq_seq: int | None
    signature_valid: bool | None = None  # kij's own HMAC check with the connection file's key
    same_bytes: bool | None = None  # header … content byte for byte the same on both legs


@dataclass
class Document:
    """The notebook saved through the contents API, and what the kernel saw of it."""

    path: str
    absent_before: bool = False
    on_disk: bool = False
    size: int = 0
    same_as_api_text: bool = False  # the file's bytes == GET ?type=file&format=text
    cells_round_trip: bool = False  # the cells loaded back == the cells saved
    last_modified: str = ""  # the PUT reply's
    mtime_matches: bool = False  # the file's mtime == last_modified (to the second)
    code_in_trace: int = 0  # ZeroMQ records carrying the code cell's source
    markdown_in_trace: int = 0  # … the markdown cell's text
    name_in_trace: int = 0  # … the file's name
    records_searched: int = 0
    session_env: str | None = None  # JPY_SESSION_NAME in the kernel process's environment


@dataclass
class ServerResult:
    """Everything `kij server` saw: the capture of both legs, and the facts drawn from it."""

    capture: Capture
    attached: bool = False
    url: str = ""  # never with the token
    token_hint: str = ""
    server_pid: int | None = None
    server_version: str = ""
    kernel_id: str = ""
    kernel_name: str = ""
    session_id: str = ""
    named_kernel: bool = False  # attached: the user named it (never shut down)
    subprotocol: str = ""
    execute_msg_id: str = ""
    pairs: list[Pair] = field(default_factory=list)
    server_own: list = field(default_factory=list)  # the #s of ZeroMQ requests the server sent on its own
    zmq_identity: str = ""  # the routing identity on the execute_request's ZeroMQ frames (the server's socket)
    legacy: dict = field(default_factory=dict)  # the legacy JSON form: what went, what came
    document: Document | None = None
    lives_on: dict = field(default_factory=dict)
    answer: str = ""  # attached: what the cell returned
    zmq_seen: bool = False
    elapsed_ms: float = 0.0


# --- records: the websocket leg and the tap's ZeroMQ leg, on one clock ---------------


def ws_record(m: srv.WsMessage, t0: float, act: str) -> Record:
    """A websocket message → a Record (leg "websocket"), its parts named by their role."""
    if isinstance(m.raw, str):
        frames = [Frame(0, "json", len(m.raw.encode()), text=m.raw)]
    else:
        table = m.raw[:m.offsets[0]]
        roles = ["offsets", "channel", *srv.PARTS, *["buffer"] * max(0, len(m.parts) - 4)]
        chunks = [table, m.channel.encode(), *m.parts]
        frames = [trace.frame_of(i, role, chunk) for i, (role, chunk) in enumerate(zip(roles, chunks))]
    msg = m.message
    return Record(seq=0, channel=m.channel, direction=m.direction, t_ms=round((m.t - t0) * 1000, 3),
                  frames=frames, act=act, msg_type=m.msg_type or None, msg_id=m.msg_id or None,
                  parent_msg_id=m.parent_id or None, header=msg.get("header"),
                  parent_header=msg.get("parent_header"), metadata=msg.get("metadata"),
                  content=msg.get("content"), buffers=max(0, len(m.parts) - 4), leg="websocket")


def zmq_records(server: srv.Server, kernel_id: str, done, timeout: float) -> tuple[list[Record], float]:
    """The tap's trace of this kernel (records, the wall time its clock starts at), read
    again until done(records) holds — the tap writes a moment after it relays."""
    path = server.runtime / "kij-tap" / f"{kernel_id}.jsonl"
    deadline = time.monotonic() + timeout
    while True:
        try:
            cap = trace.load(path)
            if done(cap.messages):
                return cap.messages, float((cap.tap or {}).get("started") or 0.0)
        except UserError:
            pass
        server.check_alive("while kij read the tap's trace")
        if time.monotonic() > deadline:
            raise KernelFault(f"the tap's trace {path.name} did not show the kernel's side within {timeout:g} s")
        time.sleep(0.05)  # the trace file has no protocol to wait on; the deadline bounds this


def idle_for(msg_id: str):
    """done() for zmq_records: the kernel's status idle for msg_id is in the trace."""
    return lambda recs: any(r.parent_msg_id == msg_id and r.msg_type == "status" and r.direction == "from_kernel"
                            and (r.content or {}).get("execution_state") == "idle" for r in recs)


def verified(rec: Record, key: bytes, scheme: str) -> bool | None:
    """kij's own check of the HMAC on a ZeroMQ record, with the connection file's key."""
    frames = [f.data for f in rec.frames]
    try:
        _, after = wire.split(frames)
    except wire.WireError:
        return None
    return wire.verify(key, after[0], after[1:5], scheme)


def zmq_parts(rec: Record) -> list[bytes]:
    """header, parent_header, metadata, content (and buffers) of a ZeroMQ record."""
    return [f.data for f in rec.frames if f.role in (*srv.PARTS, "buffer")]


# --- the lesson ----------------------------------------------------------------------


class Lesson:
    """One run of `kij server`: the server, its websocket messages, the acts."""

    def __init__(self, server: srv.Server, timeout: float):
        self.server = server
        self.timeout = timeout
        self.t0 = time.time()
        self.ws_messages: list[srv.WsMessage] = []
        self.ws_act: dict[int, str] = {}  # id(WsMessage) → act name
        self.acts: list[Act] = []
        self.zmq: list[Record] = []
        self.zmq_started = 0.0
        self.key: tuple[bytes, str] | None = None  # the connection file's key and scheme, once read

    def act(self, name: str, title: str) -> Act:
        self.acts.append(Act(name, title))
        return self.acts[-1]

    def open(self, kernel_id: str, v1: bool = True) -> srv.Channels:
        """A websocket on the kernel's channels. jupyter_server answers the upgrade only
        once the kernel has answered its kernel_info_request, so the first one opened
        waits for the kernel's boot too: kij gives it the boot's time as well."""
        waits = max(self.timeout, srv.BOOT_TIMEOUT)
        try:
            return self.server.websocket(kernel_id, v1, self.ws_messages, timeout=waits)
        except KernelFault:
            raise
        except Exception as exc:
            self.server.check_alive("as kij opened a websocket", failed=True)
            raise KernelFault(f"the kernel's websocket would not open within {waits:g} s (jupyter_server "
                              f"answers once the kernel answers kernel_info): {exc}") from None

    def run_cell(self, ws: srv.Channels, act: Act, code: str, store_history: bool = True) -> list[srv.WsMessage]:
        content = {"code": code, "silent": False, "store_history": store_history, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": True}
        return self.exchange(ws, act, "shell", "execute_request", content)

    def exchange(self, ws: srv.Channels, act: Act, channel: str, msg_type: str, content: dict) -> list[srv.WsMessage]:
        start = len(self.ws_messages)
        sent = ws.send(channel, msg_type, content)
        act.request_msg_id = act.request_msg_id or sent.msg_id
        try:
            got = ws.answered(sent, self.timeout)
        except Exception as exc:  # the websocket failed: say whether the server died
            self.server.check_alive(f"during '{act.title}'", failed=True)
            if isinstance(exc, KernelFault):
                raise
            raise KernelFault(f"the websocket failed during '{act.title}': {exc}") from None
        finally:
            for m in self.ws_messages[start:]:
                self.ws_act.setdefault(id(m), act.name)
        return [sent, *got]

    def capture(self, kernel: KernelFacts | None) -> Capture:
        """Both legs on one clock (wall time since the lesson began), numbered in order."""
        records = [ws_record(m, self.t0, self.ws_act.get(id(m), "")) for m in self.ws_messages]
        for rec in self.zmq:
            rec.t_ms = round((self.zmq_started - self.t0) * 1000 + rec.t_ms, 3)
        records = sorted(records + self.zmq, key=lambda r: r.t_ms)
        for seq, rec in enumerate(records):
            rec.seq = seq
        return Capture(kernel=kernel, acts=self.acts, messages=records, takeaway=TAKEAWAY, code=CODE,
                       session=self.ws_messages[0].message["header"]["session"] if self.ws_messages else "")


def run(timeout: float = 30.0, url: str | None = None, token: str | None = None,
        kernel: str | None = None, tell=lambda text: None) -> ServerResult:
    """`kij server`: a server of kij's own, or (url, token) someone else's."""
    if url:
        return run_attached(url, token or "", kernel, timeout, tell)
    with srv.started() as server:
        return run_owned(server, timeout)


def run_owned(server: srv.Server, timeout: float) -> ServerResult:
    t = time.monotonic()
    lesson = Lesson(server, timeout)
    result = ServerResult(Capture(), url=server.url, token_hint=server.token_hint, server_pid=server.process.pid)
    result.server_version = (server.call("GET", "api/", during="at the start") or {}).get("version", "")
    try:
        steps(lesson, result)
    except KernelFault as exc:
        exc.capture = finish(lesson, result, t)
        raise
    finish(lesson, result, t)
    return result


def steps(lesson: Lesson, result: ServerResult) -> None:
    session(lesson, result)
    execute(lesson, result)
    legacy(lesson, result)
    document(lesson, result)
    lives_on(lesson, result)
    restart(lesson, result)


def finish(lesson: Lesson, result: ServerResult, t: float) -> Capture:
    result.capture = lesson.capture(kernel_facts(lesson, result))
    numbered(result)
    result.zmq_seen = bool(lesson.zmq)
    result.elapsed_ms = round((time.monotonic() - t) * 1000, 1)
    result.capture.elapsed_ms = result.elapsed_ms
    return result.capture


def numbered(result: ServerResult) -> None:
    """Each pair's # on each leg, as the capture numbers them (the first record with its msg_id)."""
    first: dict[tuple[str, str], int] = {}
    for rec in result.capture.messages:
        first.setdefault((rec.leg, rec.msg_id or ""), rec.seq)
    for p in result.pairs:
        p.ws_seq = first.get(("websocket", p.msg_id))
        p.zmq_seq = first.get(("zmq", p.msg_id)) if p.zmq_seq is not None else None
    result.server_own = [first[("zmq", i)] for i in result.server_own if isinstance(i, str) and ("zmq", i) in first]
    execute = next((r for r in result.capture.messages if r.leg == "zmq" and r.msg_id == result.execute_msg_id), None)
    ident = next((f for f in execute.frames if f.role == "identity"), None) if execute else None
    result.zmq_identity = "" if ident is None else (ident.text if ident.text is not None else ident.hex or "")


def kernel_facts(lesson: Lesson, result: ServerResult) -> KernelFacts | None:
    if not result.kernel_id:
        return None
    info = next((m.message["content"] for m in lesson.ws_messages if m.msg_type == "kernel_info_reply"), {})
    key, scheme = lesson.key or (b"", "")
    return KernelFacts(name=result.kernel_name, existing=result.attached,
                       key_hint=trace.key_hint(key) if lesson.key else "", signature_scheme=scheme,
                       implementation=info.get("implementation"),
                       implementation_version=info.get("implementation_version"),
                       protocol_version=info.get("protocol_version"),
                       language=(info.get("language_info") or {}).get("name"), log_readable=False)


def session(lesson: Lesson, result: ServerResult) -> None:
    act = lesson.act("session", "POST /api/sessions: a notebook's session, its kernel the tap")
    made = lesson.server.new_session(NOTEBOOK, KERNEL, during="as kij created the session")
    result.session_id, result.kernel_id = made["id"], made["kernel"]["id"]
    result.kernel_name = made["kernel"]["name"]
    act.outcome = f"session {made['id'][:8]} for {NOTEBOOK}; kernel {result.kernel_id[:8]} ({result.kernel_name})"


def execute(lesson: Lesson, result: ServerResult) -> None:
    act = lesson.act("execute", "a cell over the websocket (v1), and the same messages on ZeroMQ")
    ws = lesson.open(result.kernel_id)
    result.subprotocol = ws.ws.getsubprotocol() or ""
    try:
        lesson.exchange(ws, act, "shell", "kernel_info_request", {})  # as JupyterLab does first
        act.request_msg_id = None
        sent = lesson.run_cell(ws, act, CODE)[0]
    finally:
        ws.close()
    result.execute_msg_id = act.request_msg_id = sent.msg_id
    read_zmq(lesson, result, idle_for(sent.msg_id))
    pair(lesson, result)
    mine = [p for p in result.pairs if p.msg_id == sent.msg_id or act_of(lesson, p) == "execute"]
    ok = all(p.signature_valid and p.same_bytes for p in mine if p.zmq_seq is not None and p.ws_seq is not None)
    act.ok = ok and any(p.msg_id == sent.msg_id and p.zmq_seq is not None for p in result.pairs)
    act.outcome = (f"{len([p for p in mine if p.zmq_seq is not None])} messages seen on both legs; "
                   f"signatures {'all' if ok else 'not all'} checked ✓ with the connection file's key")


def act_of(lesson: Lesson, p: Pair) -> str:
    return next((lesson.ws_act.get(id(m), "") for m in lesson.ws_messages if m.msg_id == p.msg_id), "")


def read_zmq(lesson: Lesson, result: ServerResult, done) -> None:
    """The tap's trace so far, tagged with the act each message belongs to."""
    records, lesson.zmq_started = zmq_records(lesson.server, result.kernel_id, done, lesson.timeout)
    acts = {m.msg_id: lesson.ws_act.get(id(m), "") for m in lesson.ws_messages}
    for rec in records:
        rec.act = acts.get(rec.msg_id) or acts.get(rec.parent_msg_id) or None
    lesson.zmq = records


def connection_key(server: srv.Server, kernel_id: str) -> tuple[bytes, str]:
    info = json.loads((server.runtime / f"kernel-{kernel_id}.json").read_text())
    return wire.key_bytes(info["key"]), info.get("signature_scheme", "hmac-sha256")


def pair(lesson: Lesson, result: ServerResult) -> None:
    """Each websocket message beside the ZeroMQ message with its msg_id (iopub: the first copy)."""
    lesson.key = lesson.key or connection_key(lesson.server, result.kernel_id)
    key, scheme = lesson.key
    zmq_by_id: dict[str, Record] = {}
    for rec in lesson.zmq:
        zmq_by_id.setdefault(rec.msg_id or "", rec)
    ws_ids = set()
    result.pairs = []
    for i, m in enumerate(lesson.ws_messages):
        if not m.msg_id or m.msg_id in ws_ids or isinstance(m.raw, str):
            continue
        ws_ids.add(m.msg_id)
        z = zmq_by_id.get(m.msg_id)
        p = Pair(m.msg_type, m.msg_id, m.direction, i, None)
        if z is not None:
            p.zmq_seq = lesson.zmq.index(z)
            p.signature_valid = verified(z, key, scheme)
            p.same_bytes = zmq_parts(z) == m.parts
        result.pairs.append(p)
    result.server_own = [r.msg_id for r in lesson.zmq
                         if r.direction == "to_kernel" and r.msg_id and r.msg_id not in ws_ids
                         and r.channel in ("shell", "control")]


def legacy(lesson: Lesson, result: ServerResult) -> None:
    act = lesson.act("legacy", "the legacy JSON form: a websocket with no subprotocol")
    ws = lesson.open(result.kernel_id, v1=False)
    try:
        got = lesson.exchange(ws, act, "shell", "kernel_info_request", {})
    finally:
        ws.close()
    reply = next((m for m in got if m.msg_type == "kernel_info_reply"), None)
    result.legacy = {"sent": got[0].raw, "reply_chars": len(reply.raw) if reply else 0,
                     "reply_keys": sorted(json.loads(reply.raw)) if reply else [],
                     "binary": any(not isinstance(m.raw, str) for m in got)}
    act.ok = reply is not None and not result.legacy["binary"]
    act.outcome = (f"one JSON text per message, a \"channel\" field inside; the reply: "
                   f"{result.legacy['reply_chars']} characters of JSON")


def notebook() -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": KERNEL, "display_name": KERNEL,
                                                                            "language": "python"}},
            "cells": [{"cell_type": "markdown", "id": "kij-md", "metadata": {}, "source": MARKDOWN},
                      {"cell_type": "code", "id": "kij-code", "metadata": {}, "execution_count": None,
                       "outputs": [], "source": CODE}]}


def document(lesson: Lesson, result: ServerResult) -> None:
    act = lesson.act("document", "PUT /api/contents: the server writes the notebook")
    server, doc = lesson.server, Document(NOTEBOOK)
    on_disk = server.root / NOTEBOOK
    doc.absent_before = not on_disk.exists()
    saved = server.call("PUT", f"api/contents/{NOTEBOOK}", {"type": "notebook", "format": "json",
                                                            "content": notebook()}, during="as kij saved")
    doc.on_disk = on_disk.exists()
    data = on_disk.read_bytes() if doc.on_disk else b""
    doc.size, doc.last_modified = len(data), saved.get("last_modified", "")
    raw = server.call("GET", f"api/contents/{NOTEBOOK}?type=file&format=text&content=1", during="as kij loaded")
    model = server.call("GET", f"api/contents/{NOTEBOOK}?content=1", during="as kij loaded")
    doc.same_as_api_text = data == raw.get("content", "").encode()
    doc.cells_round_trip = [(c["cell_type"], c["source"]) for c in model["content"]["cells"]] == \
        [(c["cell_type"], c["source"]) for c in notebook()["cells"]]
    doc.mtime_matches = doc.on_disk and same_second(on_disk.stat().st_mtime, doc.last_modified)
    search(lesson, result, doc)
    result.document = doc
    act.ok = doc.absent_before and doc.on_disk and doc.same_as_api_text and doc.code_in_trace > 0 \
        and doc.markdown_in_trace == 0 and doc.name_in_trace == 0
    act.outcome = (f"{NOTEBOOK}: {doc.size} bytes on disk, the same bytes the contents API returns; "
                   f"the kernel's wire: the code in {doc.code_in_trace} messages, the markdown in "
                   f"{doc.markdown_in_trace}, the file name in {doc.name_in_trace}")


def same_second(mtime: float, iso: str) -> bool:
    from datetime import datetime

    try:
        return abs(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() - mtime) < 1.0
    except ValueError:
        return False


def search(lesson: Lesson, result: ServerResult, doc: Document) -> None:
    """Search every frame the kernel's ZeroMQ leg carried so far for the notebook."""
    read_zmq(lesson, result, lambda recs: True)
    texts = ["\n".join(f.data.decode("utf-8", "replace") for f in r.frames) for r in lesson.zmq]
    doc.records_searched = len(texts)
    doc.code_in_trace = sum(json.dumps(CODE)[1:-1] in t for t in texts)
    doc.markdown_in_trace = sum("only the server ever reads it" in t for t in texts)
    doc.name_in_trace = sum(Path(NOTEBOOK).stem in t for t in texts)
    doc.session_env = session_env(lesson)


def session_env(lesson: Lesson) -> str | None:
    """JPY_SESSION_NAME in the kernel's environment (the server sets it at launch): the
    real kernel's, named in the tap's trace, else the process the server launched as
    its kernel (the tap, which passed its environment on to the real kernel)."""
    import psutil

    heads = [(trace.read_head(path).get("kernel") or {}).get("pid")
             for path in (lesson.server.runtime / "kij-tap").glob("*.jsonl")]
    launched = []
    with contextlib.suppress(psutil.Error, AttributeError):  # AttributeError: a server kij did not start
        launched = [child.pid for child in psutil.Process(lesson.server.process.pid).children()]
    for pid in heads + launched:
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except (OSError, TypeError):
            continue
        for item in env:
            if item.startswith(b"JPY_SESSION_NAME="):
                return item.split(b"=", 1)[1].decode(errors="replace")
    return None


def lives_on(lesson: Lesson, result: ServerResult) -> None:
    act = lesson.act("lives_on", "the tab closes; a new websocket reads secret again")
    state = lesson.server.call("GET", f"api/kernels/{result.kernel_id}", during="after the websocket closed")
    value = read_secret(lesson, result.kernel_id, act)
    result.lives_on = {"after_close": state.get("execution_state"), "connections": state.get("connections"),
                       "secret_again": value}
    act.ok = value == "42"
    act.outcome = f"kernel still listed ({state.get('execution_state')}); `secret` → {value}"


def read_secret(lesson: Lesson, kernel_id: str, act) -> str:
    """Open a new websocket (a new tab) on the kernel, run READ, close it: what it showed."""
    ws = lesson.open(kernel_id)
    try:
        return output_of(lesson.run_cell(ws, act, READ))
    finally:
        ws.close()


def output_of(got: list[srv.WsMessage]) -> str:
    """What a cell showed: its execute_result, or its error's name and value."""
    for m in got:
        c = m.message.get("content", {})
        if m.msg_type == "execute_result":
            return c.get("data", {}).get("text/plain", "")
        if m.msg_type == "error":
            return f"{c.get('ename')}: {c.get('evalue')}"
    return "".join(m.message["content"].get("text", "") for m in got if m.msg_type == "stream").strip()


def restart(lesson: Lesson, result: ServerResult) -> None:
    act = lesson.act("restart", "POST /api/kernels/<id>/restart: a new process forgets")
    lesson.server.call("POST", f"api/kernels/{result.kernel_id}/restart", {}, during="during the restart")
    value = read_secret(lesson, result.kernel_id, act)
    result.lives_on["after_restart"] = value
    read_zmq(lesson, result, idle_for(act.request_msg_id))
    pair(lesson, result)
    act.ok = value.startswith("NameError")
    act.outcome = f"`secret` → {value}"


# --- someone else's server ----------------------------------------------------------------


def run_attached(url: str, token: str, kernel: str | None, timeout: float, tell) -> ServerResult:
    t = time.monotonic()
    with srv.attached(url, token, kernel) as server:
        lesson = Lesson(server, timeout)
        result = ServerResult(Capture(), attached=True, url=srv.shown_url(server.url),
                              token_hint=server.token_hint, named_kernel=bool(kernel))
        result.server_version = (server.call("GET", "api/") or {}).get("version", "")
        result.kernel_id = kernel or server.new_kernel()
        result.kernel_name = (server.call("GET", f"api/kernels/{result.kernel_id}") or {}).get("name", "")
        tell(notice(result))
        act = lesson.act("execute", f"`{ATTACHED_CODE}` over the websocket (v1)")
        ws = lesson.open(result.kernel_id)
        result.subprotocol = ws.ws.getsubprotocol() or ""
        try:
            result.answer = output_of(lesson.run_cell(ws, act, ATTACHED_CODE, store_history=False))
        finally:
            ws.close()
        result.execute_msg_id = act.request_msg_id
        act.ok = result.answer == "1"
        act.outcome = f"`{ATTACHED_CODE}` → {result.answer}; the ZeroMQ leg is inside that server, not seen here"
        finish(lesson, result, t)
        result.capture.takeaway = ATTACHED_TAKEAWAY
    return result


def notice(result: ServerResult) -> str:
    whose = ("your kernel " + result.kernel_id[:8] + ", which kij leaves running") if result.named_kernel \
        else f"a new {result.kernel_name} kernel {result.kernel_id[:8]}, which kij shuts down afterwards"
    return (f"kij runs `{ATTACHED_CODE}` with store_history=False (the namespace, the history and the "
            f"execution count stay as they were) on {whose}, at {result.url} (token {result.token_hint}); "
            f"it never shuts that server down")


def check_flags(url: str | None, token: str | None, kernel: str | None, save: str | None) -> None:
    if (token or kernel) and not url:
        raise UserError("--token and --kernel go with --url (a server kij did not start)")
    if url:
        srv.check_url(url)
        if not token:
            raise UserError("--url needs --token TOKEN (the server's token; kij never prints it whole)")
    if save:
        trace.check_writable(save)


def save(result: ServerResult, path: str) -> None:
    trace.save(result.capture, path)
