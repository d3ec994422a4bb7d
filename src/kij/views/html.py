"""The wire as a picture: a capture → one self-contained HTML page (`kij view`).

The page is data plus a small renderer. The data is the capture's records, cut to
what the diagram and its detail panel show (each frame's role and byte length, the
short frames' text, the four decoded JSON frames), embedded as JSON in a
`<script type="application/json">`; the renderer is plain JavaScript and CSS from
`kij/views/html/` (package data), inlined. No network request, no CDN: the file
works from file://, in an e-mail, on a workshop projector, and (through
`Capture._repr_html_`, an <iframe srcdoc>) inline in a notebook.

A string longer than LONG_TEXT characters (an image's base64, a big stream) is cut
in the page and says how much was cut, so a page's size follows its message count,
not its payloads. Nothing here prints; kij.cli does.
"""

from __future__ import annotations

import html
import json
from importlib import resources

from kij.trace import Capture, Frame, Record

LONG_TEXT = 2000  # characters kept of one string in the page's JSON
SHORT_FRAME = 200  # characters kept of a frame that is not one of the four JSON frames
JSON_ROLES = {"header", "parent_header", "metadata", "content"}  # shown decoded, not as text


def _cut(value, limit: int = LONG_TEXT):
    """The value with every string longer than limit cut, saying how much was cut."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}… ({len(value) - limit} more characters not kept in this page)"
    if isinstance(value, dict):
        return {k: _cut(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut(v, limit) for v in value]
    return value


def _frame(f: Frame) -> list:
    """[role, byte length, text or hex (cut; None for the four decoded JSON frames), is hex]."""
    if f.role in JSON_ROLES:
        return [f.role, f.length, None, False]
    if f.text is not None:
        return [f.role, f.length, _cut(f.text, SHORT_FRAME), False]
    return [f.role, f.length, _cut(f.hex or "", SHORT_FRAME), True]


def record_data(rec: Record) -> dict:
    """One record as the page's renderer reads it (short keys: a page holds thousands)."""
    data = {
        "s": rec.seq, "c": rec.channel, "d": rec.direction, "t": rec.t_ms, "y": rec.msg_type,
        "i": rec.msg_id, "p": rec.parent_msg_id, "v": rec.signature_valid, "n": rec.note,
        "l": rec.leg, "a": rec.act, "b": rec.buffers, "f": [_frame(f) for f in rec.frames],
    }
    # a JSON frame of at most LONG_TEXT bytes cannot hold a longer string: cut only the others
    lengths = {f.role: f.length for f in rec.frames}
    for key, role, value in (("h", "header", rec.header), ("ph", "parent_header", rec.parent_header),
                             ("m", "metadata", rec.metadata), ("ct", "content", rec.content)):
        if value:
            data[key] = value if lengths.get(role, LONG_TEXT + 1) <= LONG_TEXT else _cut(value)
    if not rec.buffers:
        del data["b"]
    header = rec.header if isinstance(rec.header, dict) else {}
    if data["i"] and header.get("msg_id") == rec.msg_id:
        del data["i"]  # view.js reads it from the header
    if data["y"] and header.get("msg_type") == rec.msg_type:
        del data["y"]
    return {k: v for k, v in data.items() if v is not None}


def capture_data(cap: Capture, dropped: list[str] | None = None) -> dict:
    """Everything the page needs: the records, and the few facts about the capture."""
    k = cap.kernel
    return {
        "kernel": None if k is None else {
            "name": k.name, "implementation": k.implementation, "version": k.implementation_version,
            "protocol": k.protocol_version, "existing": k.existing, "scheme": k.signature_scheme,
            "key_hint": k.key_hint,
        },
        "tap": cap.tap is not None, "source": cap.loaded_from, "takeaway": cap.takeaway,
        "acts": [{"name": a.name, "title": a.title, "outcome": a.outcome, "ok": a.ok} for a in cap.acts],
        "dropped": dropped or [],
        "messages": _with_parents_shared(cap.messages),
    }


def _with_parents_shared(records: list[Record]) -> list[dict]:
    """The records' data; a parent_header equal to the header of a message earlier in
    the page is written as that message's index ("ph": 6), not again in full."""
    first: dict[str, int] = {}
    out = []
    for i, rec in enumerate(records):
        data = record_data(rec)
        j = first.get(rec.parent_msg_id or "")
        if j is not None and rec.parent_header == records[j].header and "ph" in data:
            data["ph"] = j
            data.pop("p", None)  # view.js reads it from that header
        if rec.msg_id and rec.msg_id not in first:
            first[rec.msg_id] = i
        out.append(data)
    return out


def _asset(name: str) -> str:
    return resources.files("kij.views").joinpath("html", name).read_text(encoding="utf-8")


def _script_json(data: dict) -> str:
    """JSON that cannot end its <script> element early: every < is written \\u003c."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def page(cap: Capture, large: bool = False, dropped: list[str] | None = None, title: str | None = None) -> str:
    """The whole page, one self-contained HTML document."""
    title = title or (f"kij view — {cap.loaded_from}" if cap.loaded_from else "kij view")
    body_class = "large" if large else ""
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        # no request may leave the page, not even for a favicon
        "<link rel=\"icon\" href=\"data:,\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n{_asset('view.css')}</style>\n</head>\n"
        f"<body class=\"{body_class}\">\n{_asset('view.html')}\n"
        f"<script type=\"application/json\" id=\"kij-capture\">{_script_json(capture_data(cap, dropped))}</script>\n"
        f"<script>\n{_asset('view.js')}</script>\n</body></html>\n"
    )


def inline(cap: Capture, height: int = 560) -> str:
    """The page inside an <iframe srcdoc>: for a notebook's output (Capture._repr_html_),
    where the page's CSS and script must not touch the notebook's own."""
    return (f"<iframe class=\"kij-view\" title=\"kij view: the capture as a sequence diagram\" "
            f"sandbox=\"allow-scripts\" style=\"width:100%;height:{height}px;border:1px solid #bbb\" "
            f"srcdoc=\"{html.escape(page(cap), quote=True)}\"></iframe>")
