"""The kij-frames/1 capture format: captured messages as plain data, and the only
code that reads or writes them as JSON.

One format for every capture kij writes — `kij frames --save` and the traces of the
tap proxy (kij.tap) — in two spellings, both read by `load`:

* a JSON document — `{"format": "kij-frames/1", "kernel": {...}, "acts": [...],
  "messages": [record, record, ...], ...}`;
* JSON lines — optionally a head line (that document without its messages), then
  one record per line, so that a writer can append records as they happen.

A record is one multipart message: channel, direction, t_ms, every frame (its role,
length, and its bytes as text when they are UTF-8, else as hex), the decoded header,
parent_header, metadata and content, and whether kij's recomputed signature matched.
The connection key is never written; `key_hint` keeps its first four characters.

Here: the dataclasses (Frame, Record, Act, KernelFacts, Capture); a sniffed message
→ a Record (`record_of`, each frame named by its role); a whole capture saved and
loaded (`save`, `load`); JSON lines one line at a time, for a writer that appends and
a reader that follows (`json_line`, `head_of`, `taken_up`, `continued_line`,
`read_line`, `read_head`); and the writer's lock. A trace written by the tap proxy
says so: its head has a `tap` object (the proxy's PID, start time, sockets, the real
kernel's connection file and ports); a proxy that takes an existing trace up (a
restart, or a second kernel sharing $KIJ_TAP_TRACE) first writes a
`{"continued_by": {...}}` line of its own and numbers its records on from the last
one; while a proxy writes to a trace it holds a shared lock on the file
(`being_written`). docs/capture-format.md describes every field.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from kij import wire
from kij.errors import UserError

FORMAT = "kij-frames/1"

ROLES_AFTER_DELIMITER = ["signature", "header", "parent_header", "metadata", "content"]


@dataclass
class Frame:
    index: int
    role: str  # identity | topic | delimiter | signature | header | parent_header | metadata | content | buffer
    #            heartbeat | subscription (b"\x01" + topic, a SUB asking its PUB) | ? (no delimiter)
    length: int
    text: str | None = None  # the bytes decoded as UTF-8, when they are
    hex: str | None = None  # otherwise, the bytes in hex

    @property
    def data(self) -> bytes:
        return self.text.encode("utf-8") if self.text is not None else bytes.fromhex(self.hex or "")


@dataclass
class Record:
    """One multipart message on one channel, in one direction."""

    seq: int
    channel: str  # shell | control | stdin | iopub | hb
    direction: str  # to_kernel | from_kernel
    t_ms: float  # since the capture began
    frames: list[Frame]
    act: str | None = None  # which step of the lesson it belongs to (None in a tap trace)
    msg_type: str | None = None
    msg_id: str | None = None
    parent_msg_id: str | None = None
    header: dict | None = None
    parent_header: dict | None = None
    metadata: dict | None = None
    content: dict | None = None
    buffers: int = 0
    signature_valid: bool | None = None  # None: nothing was signed (heartbeat, empty key)
    note: str | None = None  # what kij did to it or made of it ("forged", "replay of #5", …)
    leg: str = "zmq"  # zmq: a ZeroMQ socket onto the kernel | websocket: a browser's websocket to jupyter_server


@dataclass
class Act:
    """One step of the lesson: what kij tried, and what the wire proved."""

    name: str
    title: str
    request_msg_id: str | None = None
    outcome: str = ""
    ok: bool = True
    evidence: list[str] = field(default_factory=list)  # the kernel's own log lines


@dataclass
class KernelFacts:
    name: str
    existing: bool = False  # attached to someone else's kernel (left running)
    connection_file: str = ""
    pid: int | None = None
    language: str | None = None
    implementation: str | None = None
    implementation_version: str | None = None
    protocol_version: str | None = None
    transport: str = "tcp"
    ip: str = ""
    ports: dict = field(default_factory=dict)  # channel → port
    signature_scheme: str = ""
    key_hint: str = ""  # "8f3a…" — never the whole key
    log_readable: bool = True
    notice: str = ""  # attached: what kij said it would run on the kernel, before it ran anything


@dataclass
class Capture:
    format: str = FORMAT
    kernel: KernelFacts | None = None
    identity: str = ""  # the routing identity of kij's shell and stdin sockets
    session: str = ""
    code: str = ""
    acts: list[Act] = field(default_factory=list)
    messages: list[Record] = field(default_factory=list)
    takeaway: str = ""
    elapsed_ms: float = 0.0
    loaded_from: str | None = None
    tap: dict | None = None  # set in a tap proxy's trace: the proxy, its sockets, the real kernel's ports

    def _repr_html_(self) -> str:
        """In a notebook: the capture drawn as `kij view` draws it, inline."""
        from kij.views import html

        return html.inline(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        """In IPython's text/plain: one line, not every record."""
        kernel = f", {self.kernel.name} kernel" if self.kernel else ""
        printer.text(f"<kij-frames capture: {len(self.messages)} messages{kernel}>")


# --- from the sniffer to records ----------------------------------------------------


def key_hint(key: str | bytes) -> str:
    key = key.decode(errors="replace") if isinstance(key, bytes) else key
    return f"{key[:4]}…" if key else "(empty: signing is off)"


def frame_roles(channel: str, frames: list[bytes], direction: str | None = None) -> list[str]:
    """Name each frame by its place around the <IDS|MSG> delimiter."""
    if channel == "hb":
        return ["heartbeat"] * len(frames)
    if channel == "iopub" and direction == "to_kernel":  # up an XSUB: a subscription, not a message
        return ["subscription" if is_subscription(f) else "?" for f in frames]
    try:
        before, after = wire.split(frames)
    except wire.WireError:
        return ["?"] * len(frames)
    prefix = "topic" if channel == "iopub" else "identity"
    tail = [ROLES_AFTER_DELIMITER[i] if i < 5 else "buffer" for i in range(len(after))]
    return [prefix] * len(before) + ["delimiter"] + tail


# --- iopub subscriptions (what a SUB sends up to its PUB through an XPUB/XSUB pair) ---


def is_subscription(frame: bytes) -> bool:
    """b"\x01" + topic subscribes, b"\x00" + topic unsubscribes (ZeroMQ's XPUB format)."""
    return bool(frame) and frame[0] in (0, 1)


def subscription_text(frame: bytes) -> str:
    """b"\x01" → "0x01 subscribe · topic '' (every topic)"."""
    if not is_subscription(frame):
        return "not a subscription"
    kind = "subscribe" if frame[0] == 1 else "unsubscribe"
    topic = frame[1:].decode("utf-8", "replace")
    return f"0x{frame[0]:02x} {kind} · topic {topic!r}" + (" (every topic)" if not topic else "")


def subscription_note(frames: list[bytes]) -> str:
    first = frames[0] if frames else b""
    if not is_subscription(first):
        return "not a subscription: passed on to the kernel's XPUB as it came"
    kind = "subscribe" if first[0] == 1 else "unsubscribe"
    topic = first[1:].decode("utf-8", "replace")
    return f"{kind} {topic!r} ('' = every topic): XPUB/XSUB pass subscriptions up to the kernel"


def frame_of(index: int, role: str, data: bytes) -> Frame:
    try:
        return Frame(index, role, len(data), text=data.decode("utf-8"))
    except UnicodeDecodeError:
        return Frame(index, role, len(data), hex=data.hex())


def record_of(captured, seq: int, act: str | None = None, note: str | None = None) -> Record:
    """A sniffer.Sniffed → a Record."""
    roles = frame_roles(captured.channel, captured.frames, captured.direction)
    rec = Record(
        seq=seq, act=act, channel=captured.channel, direction=captured.direction,
        t_ms=round(captured.t * 1000, 3),
        frames=[frame_of(i, r, f) for i, (r, f) in enumerate(zip(roles, captured.frames))],
        signature_valid=captured.signature_valid, note=note or captured.problem,
    )
    m = captured.message
    if m is not None:
        rec.msg_type, rec.msg_id, rec.parent_msg_id = m.msg_type, m.msg_id, m.parent_id or None
        rec.header, rec.parent_header = m.header, m.parent_header
        rec.metadata, rec.content, rec.buffers = m.metadata, m.content, len(m.buffers)
    return rec


def undecoded(channel: str, direction: str, t: float, frames: list[bytes], note: str) -> Record:
    """A Record for frames kij could not make sense of: only their bytes, and why."""
    return Record(seq=0, channel=channel, direction=direction, t_ms=round(t * 1000, 3),
                  frames=[frame_of(i, "?", f) for i, f in enumerate(frames)], note=note)


# --- writing ------------------------------------------------------------------------


def to_document(capture: Capture) -> dict:
    return dataclasses.asdict(capture)


def head_of(capture: Capture) -> dict:
    """The head line of JSON lines: the whole document but its messages."""
    head = to_document(capture)
    head.pop("messages")
    return head


def json_line(item: dict | Record) -> str:
    """One line of JSON lines: a head, a `continued_by` line, or a record."""
    data = dataclasses.asdict(item) if isinstance(item, Record) else item
    return json.dumps(data, ensure_ascii=False, default=str) + "\n"


def to_json_lines(capture: Capture) -> str:
    """The first line: everything but the messages; then one record per line."""
    return "".join(json_line(item) for item in [head_of(capture), *capture.messages])


def save(capture: Capture, path: str | Path) -> None:
    """Write the capture: JSON lines if the name ends in .jsonl, else one document."""
    p = Path(path)
    if p.suffix == ".jsonl":
        text = to_json_lines(capture)
    else:
        text = json.dumps(to_document(capture), indent=2, ensure_ascii=False, default=str) + "\n"
    try:
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {p}: {exc.strerror or exc.__class__.__name__}") from None


def check_writable(path: str | Path) -> None:
    """Fail before booting anything if --save could not be written."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise UserError(f"cannot write {p}: it is a directory")
    if not parent.is_dir():
        raise UserError(f"cannot write {p}: no such directory {parent}")


# --- reading ------------------------------------------------------------------------


def _build(cls, data):
    """A dataclass from a dict, keeping only the fields it knows (newer writers may add)."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} must be an object")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def record_from(data: dict) -> Record:
    """One record as JSON data (a line of JSON lines, an item of "messages") → a Record."""
    rec = _build(Record, data)
    rec.frames = [_build(Frame, f) for f in rec.frames]
    if rec.channel == "iopub" and rec.direction == "to_kernel":  # traces written before the role had a name
        for f in rec.frames:
            if f.role == "?" and is_subscription(f.data):
                f.role = "subscription"
    return rec


def from_document(doc: dict) -> Capture:
    cap = _build(Capture, {k: v for k, v in doc.items() if k != "messages"})
    if cap.kernel is not None:
        cap.kernel = _build(KernelFacts, cap.kernel)
    cap.acts = [_build(Act, a) for a in cap.acts or []]
    cap.messages = [record_from(r) for r in doc.get("messages", [])]
    return cap


def _kind(item) -> str | None:
    """What one line of JSON lines holds: a "record"; "continued" (another writer takes
    the trace up from here); a "head" (allowed only as the first line); None: no object."""
    if not isinstance(item, dict):
        return None
    if "channel" in item:
        return "record"
    if isinstance(item.get("continued_by"), dict):
        return "continued"
    return "head"


def parse(text: str, dropped: list[str] | None = None) -> Capture:
    """A whole document, or JSON lines (an optional head line, then records).

    With a `dropped` list, a JSON-lines line that cannot be read (a trace cut off
    mid-line, a stray line) is not fatal: it is left out and named in the list
    ("line 7: not JSON"), and the whole lines around it are kept (`kij view`)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and "messages" in doc:
        if not isinstance(doc["messages"], list) or not doc["messages"]:
            raise ValueError("no messages in it")
        return from_document(doc)
    if isinstance(doc, dict) and "channel" in doc:  # JSON lines holding a single record
        return from_document({"messages": [doc]})
    head: dict = {}
    records = []
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines: U+2028 or U+0085 may sit inside a JSON string
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            if dropped is None:
                raise ValueError(f"line {number} is not JSON") from None
            dropped.append(f"line {number}: not JSON ({len(line)} characters)")
            continue
        kind = _kind(item)
        if kind == "record":
            records.append(item)
        elif kind == "continued":
            writer = {**item["continued_by"], "from_seq": len(records)}
            head.setdefault("tap", {}).setdefault("continued_by", []).append(writer)
        elif kind == "head" and number == 1:
            head = item
        elif dropped is not None:
            dropped.append(f"line {number}: not a message record")
        else:
            raise ValueError(f"line {number} is not a message record")
    if not records:
        raise ValueError("no messages in it")
    return from_document({**head, "messages": records})


def load(path: str | Path, dropped: list[str] | None = None) -> Capture:
    """Read a saved capture; a UserError says what is wrong with the file. With a
    `dropped` list, unreadable JSON-lines lines are named there instead (see parse)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"no such capture file: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read capture file {p}: {exc.__class__.__name__}") from None
    try:
        capture = parse(text, dropped)
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError(f"{p} is not a kij frames capture ({exc})") from None
    capture.loaded_from = str(p)
    return capture


# --- JSON lines, one line at a time (a writer taking a trace up, `kij tap --follow`) ---


@dataclass
class Line:
    """One line of a JSON-lines trace, read on its own."""

    kind: str  # head | continued | record
    head: dict | None = None  # head: the line itself; continued: its continued_by object
    record: Record | None = None


def read_line(text: str, first: bool = False) -> Line | None:
    """One line of a trace that may still be growing. None for a blank line, a line that
    is not JSON (yet: another process may be writing it), a head that is not the first
    line, or a record that cannot be read."""
    try:
        item = json.loads(text)
    except json.JSONDecodeError:
        return None
    kind = _kind(item)
    if kind == "record":
        try:
            return Line("record", record=record_from(item))
        except (TypeError, ValueError):
            return None
    if kind == "continued":
        return Line("continued", head=item["continued_by"])
    if kind == "head" and first:
        return Line("head", head=item)
    return None


def read_head(path: str | Path) -> dict:
    """A JSON-lines trace's head line ({} when its first line is not one)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            line = read_line(f.readline(), first=True)
    except OSError:
        return {}
    return line.head if line is not None and line.kind == "head" else {}


def taken_up(path: str | Path) -> tuple[int, dict] | None:
    """For a writer about to continue an existing JSON-lines trace: the seq its next
    record gets (one past the last record's) and the trace's head line ({} if none).
    None when there is no such file, or nothing in it yet."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    if not text.strip():
        return None
    lines = text.split("\n")  # not splitlines: U+2028 may sit inside a JSON string
    first = read_line(lines[0], first=True)
    head = first.head if first is not None and first.kind == "head" else {}
    for line in reversed(lines):
        last = read_line(line)
        if last is not None and last.kind == "record" and isinstance(last.record.seq, int):
            return last.record.seq + 1, head
    return 0, head


def continued_line(head: dict) -> dict:
    """The line a tap proxy writes when it takes up an existing trace: who writes from here."""
    tap, kernel = head.get("tap") or {}, head.get("kernel") or {}
    return {"continued_by": {
        "proxy_pid": tap.get("proxy_pid"), "started": tap.get("started"), "kernel": kernel.get("name"),
        "kernel_pid": kernel.get("pid"), "connection_file": kernel.get("connection_file"),
        "kernel_connection_file": tap.get("kernel_connection_file"),
    }}


# --- what a trace knows about its kernel, from the traffic itself -------------------


def kernel_info_reply(records: list[Record]) -> Record | None:
    """The first kernel_info_reply in the trace: the kernel's own word on its
    implementation, language and protocol version (a frontend asks as it connects)."""
    for rec in records:
        if rec.msg_type == "kernel_info_reply" and rec.direction == "from_kernel" and isinstance(rec.content, dict):
            return rec
    return None


# --- live or finished: the writer's lock --------------------------------------------


def hold_writer_lock(file) -> None:
    """A writer that appends while it runs (the tap proxy) holds a shared lock on the
    file; the operating system drops it when the process ends, however it ends."""
    import fcntl

    with contextlib.suppress(OSError):
        fcntl.flock(file.fileno(), fcntl.LOCK_SH)


def being_written(path: str | Path) -> bool:
    """True while some process holds the writer's lock on the file (a live tap)."""
    import fcntl

    try:
        with open(path, "rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return False
    except OSError:
        return False
