"""The Jupyter wire protocol, written down once in plain code.

Every message on a kernel's shell, control, stdin and iopub sockets is one ZeroMQ
*multipart* message — a list of byte strings ("frames"):

    [ routing identities or iopub topic ... ]   zero or more frames
    b"<IDS|MSG>"                                 the delimiter: routing ends here
    signature                                    HMAC of the next four frames, as hex
    header                                       JSON: msg_id, session, username, date, msg_type, version
    parent_header                                JSON: the header of the request this answers ({} if none)
    metadata                                     JSON
    content                                      JSON: what the message says
    [ buffers ... ]                              raw binary extras, not signed

The signature is HMAC(key, header + parent_header + metadata + content) with the key
from the connection file (sha256 by default). A kernel drops any message whose
signature it cannot recompute, and any signature it has already seen (a replay).

The heartbeat socket is the exception: whatever bytes you send are echoed back,
unsigned, with no JSON at all.

kij builds and signs its own requests with this module — not with jupyter_client's
Session — so that the whole recipe stays in view.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

DELIMITER = b"<IDS|MSG>"
PROTOCOL_VERSION = "5.3"


class WireError(ValueError):
    """Frames that are not a Jupyter message (no delimiter, too few frames, bad JSON)."""


# --- signing ------------------------------------------------------------------------


def _digest(scheme: str):
    """'hmac-sha256' → hashlib.sha256 (the part after 'hmac-' names the hash)."""
    if not scheme.startswith("hmac-"):
        raise WireError(f"unknown signature scheme {scheme!r}")
    try:
        return getattr(hashlib, scheme[len("hmac-"):])
    except AttributeError:
        raise WireError(f"unknown signature scheme {scheme!r}") from None


def key_bytes(key: str | bytes) -> bytes:
    """The connection key as HMAC takes it: a connection file holds it as text."""
    return key.encode() if isinstance(key, str) else key


def sign(key: str | bytes, parts: list[bytes], scheme: str = "hmac-sha256") -> bytes:
    """The signature frame for header, parent_header, metadata, content (in that order).

    An empty key means authentication is off: the signature frame is then empty.
    """
    key = key_bytes(key)
    if not key:
        return b""
    mac = hmac.new(key, digestmod=_digest(scheme))
    for part in parts:
        mac.update(part)
    return mac.hexdigest().encode("ascii")


def verify(key: str | bytes, signature: bytes, parts: list[bytes], scheme: str = "hmac-sha256") -> bool:
    """True when signature is what we compute ourselves (compared in constant time)."""
    return hmac.compare_digest(signature, sign(key, parts, scheme))


# --- frames ⇄ messages --------------------------------------------------------------


def split(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Split at the delimiter: (routing identities / topic, everything after it)."""
    try:
        at = frames.index(DELIMITER)
    except ValueError:
        raise WireError("no <IDS|MSG> delimiter among the frames") from None
    return frames[:at], frames[at + 1:]


def pack(obj: dict) -> bytes:
    """One JSON frame (the way jupyter_client writes them: UTF-8, no NaN)."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, default=_json_default).encode("utf-8")


def is_utf8(text: str) -> bool:
    """False for text no message can carry: a command-line argument whose bytes were
    not UTF-8 (Python keeps them as lone surrogates), which pack cannot encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unpack(frame: bytes) -> dict:
    try:
        value = json.loads(frame)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WireError("a frame that should be JSON is not") from None
    if not isinstance(value, dict):
        raise WireError("a frame that should be a JSON object is not")
    return value


def _json_default(obj):
    if isinstance(obj, datetime):
        return obj.isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot put {type(obj).__name__} on the wire")


@dataclass
class Message:
    """One decoded message and the exact frames it travelled in."""

    frames: list[bytes]
    identities: list[bytes]  # before the delimiter: routing identities, or the iopub topic
    signature: bytes
    header: dict
    parent_header: dict
    metadata: dict
    content: dict
    buffers: list[bytes] = field(default_factory=list)

    @property
    def msg_type(self) -> str:
        return self.header.get("msg_type", "")

    @property
    def msg_id(self) -> str:
        return self.header.get("msg_id", "")

    @property
    def parent_id(self) -> str:
        return self.parent_header.get("msg_id", "")

    @property
    def signed_parts(self) -> list[bytes]:
        """The four frames the signature covers, exactly as they travelled."""
        at = len(self.identities) + 2
        return self.frames[at:at + 4]


def parse(frames: list[bytes]) -> Message:
    """Frames → Message. Raises WireError if they are not a Jupyter message."""
    identities, rest = split(frames)
    if len(rest) < 5:
        raise WireError(f"only {len(rest)} frames after the delimiter; a message needs 5")
    signature, header, parent, metadata, content, *buffers = rest
    return Message(
        frames=list(frames), identities=identities, signature=signature,
        header=unpack(header), parent_header=unpack(parent),
        metadata=unpack(metadata), content=unpack(content), buffers=buffers,
    )


def new_header(msg_type: str, session: str, username: str = "kij") -> dict:
    """A fresh header: a new msg_id, our session, the time now (UTC), protocol 5.3."""
    return {
        "msg_id": uuid.uuid4().hex,
        "session": session,
        "username": username,
        "date": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "msg_type": msg_type,
        "version": PROTOCOL_VERSION,
    }


def build(
    msg_type: str,
    content: dict,
    *,
    key: str | bytes,
    session: str,
    parent_header: dict | None = None,
    metadata: dict | None = None,
    scheme: str = "hmac-sha256",
    username: str = "kij",
    identities: list[bytes] | None = None,
    header: dict | None = None,
) -> Message:
    """A complete, signed message ready to send as frames. `header` adds fields to the
    fresh header (e.g. JEP 91's subshell_id, which routes an execute_request to a subshell)."""
    header = {**new_header(msg_type, session, username), **(header or {})}
    parts = [pack(header), pack(parent_header or {}), pack(metadata or {}), pack(content)]
    signature = sign(key, parts, scheme)
    identities = list(identities or [])
    frames = [*identities, DELIMITER, signature, *parts]
    return Message(
        frames=frames, identities=identities, signature=signature, header=header,
        parent_header=parent_header or {}, metadata=metadata or {}, content=content,
    )


def with_signature_byte_changed(frames: list[bytes], index: int = 0) -> list[bytes]:
    """The same frames with one character of the signature replaced (a forgery)."""
    identities, rest = split(frames)
    signature = bytearray(rest[0])
    if not signature:
        raise WireError("an unsigned message has no signature byte to change")
    old = chr(signature[index])
    signature[index] = ord("0" if old != "0" else "1")
    return [*identities, DELIMITER, bytes(signature), *rest[1:]]
