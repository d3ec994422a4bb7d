"""Draws `kij server`: the execute_request as the websocket carried it and as the
server passed it on over ZeroMQ, the replies on both legs, the legacy JSON form, the
notebook the server wrote, and the kernel that outlives its tab.

`render(result, compact=False)` returns a rich renderable and prints nothing. A
message's frames are drawn by kij.views.frames' `message_frames` (a websocket record's
"frames" are its v1 parts: offsets, channel, header, …); the fact rows by parts'
`fact_grid`. Everything off the wire is rich Text, never markup.
"""

from __future__ import annotations

import json
from collections import Counter

from rich.console import Group
from rich.text import Text

from kij.lessons.server import ATTACHED_CODE, CODE, MARKDOWN, ServerResult
from kij.trace import Record
from kij.views import frames as frames_view
from kij.views.parts import CHECK, blank, fact_grid, heading, takeaway


def _mark(ok: bool | None) -> Text:
    if ok is None:
        return Text("–", style="dim")
    return Text(*CHECK[bool(ok)])


def _intro(r: ServerResult) -> list:
    whose = "someone else's (kij leaves it running)" if r.attached else f"kij's own, PID {r.server_pid}"
    rows = [("server", f"jupyter_server {r.server_version} · {r.url} · {whose}"),
            ("token", f"{r.token_hint} (never printed whole)"),
            ("kernel", f"{r.kernel_id[:8]} · {r.kernel_name}"
             + (" · yours: never shut down" if r.named_kernel else "")),
            ("websocket", r.subprotocol or "(none agreed)")]
    if not r.attached:
        rows.insert(2, ("session", f"{r.session_id[:8]} · POST /api/sessions, as JupyterLab does"))
    return [heading("kij server", "the server between the browser and the kernel"), fact_grid(rows)]


def _execute_pair(r: ServerResult) -> tuple[Record | None, Record | None]:
    recs = r.capture.messages
    ws = next((m for m in recs if m.leg == "websocket" and m.msg_id == r.execute_msg_id), None)
    zmq = next((m for m in recs if m.leg == "zmq" and m.msg_id == r.execute_msg_id), None)
    return ws, zmq


def _request(r: ServerResult, compact: bool) -> list:
    ws, zmq = _execute_pair(r)
    ids = frames_view.message_ids(r.capture.messages)
    parts = [blank(), Text("1. The cell, as the browser sends it: one binary websocket message", style="bold"),
             Text("No key, no signature: an offsets table (little-endian u64: how many, then where each part "
                  "starts), then the parts.", style="dim")]
    if ws is not None:
        parts.append(frames_view.message_frames(ws, ids, ws.t_ms))
    if zmq is None:
        parts.append(Text("The ZeroMQ leg is inside that server: kij does not see it from here.", style="dim")
                     if r.attached else Text("✗ the tap's trace has no ZeroMQ message with this msg_id", style="red"))
        return parts
    pair = next((p for p in r.pairs if p.msg_id == r.execute_msg_id), None)
    parts += [blank(), Text("2. The same msg_id, as jupyter_server sent it on to the kernel (recorded by kij's tap)",
                            style="bold")]
    if not compact:
        parts.append(frames_view.message_frames(zmq, ids, ws.t_ms if ws else zmq.t_ms))
    parts.append(fact_grid([
        ("routing", f"identity {r.zmq_identity[:20]!r} (the server's socket), then <IDS|MSG>"),
        ("signature", Text.assemble(_mark(pair and pair.signature_valid),
                                    " HMAC computed by the server; kij recomputed it with the connection file's key")),
        ("same bytes", Text.assemble(_mark(pair and pair.same_bytes),
                                     " header, parent_header, metadata, content: byte for byte the websocket's")),
    ]))
    return parts


def _replies(r: ServerResult, compact: bool) -> list:
    mine = [p for p in r.pairs if p.direction == "from_kernel" and _parent(r, p) == r.execute_msg_id]
    if not mine:
        return []
    rows = [(f"  {p.msg_type}", Text.assemble(f"ZeroMQ #{p.zmq_seq} ", _mark(p.signature_valid),
                                             " → websocket, same bytes ", _mark(p.same_bytes)))
            for p in mine if p.zmq_seq is not None]
    unseen = [p.msg_type for p in mine if p.zmq_seq is None]
    parts = [blank(), Text(f"3. The replies, back through the server ({len(rows)} seen on both legs)", style="bold"),
             Text("The server strips the kernel's identity, delimiter and signature; the browser gets the rest "
                  "byte for byte.", style="dim"), fact_grid(rows, key_style="")]
    if unseen:
        parts.append(Text(f"not in the tap's trace: {', '.join(unseen)}", style="dim"))
    own = len(r.server_own)
    if own:
        kinds = Counter(m.msg_type for m in r.capture.messages if m.seq in r.server_own)
        listed = ", ".join(f"{kind} ×{n}" for kind, n in sorted(kinds.items()))
        parts.append(Text(f"The server also sent {own} request{'s' if own != 1 else ''} of its own on ZeroMQ, "
                          f"never seen on kij's websockets: {listed}.", style="dim"))
    return parts


def _parent(r: ServerResult, p) -> str:
    rec = next((m for m in r.capture.messages if m.msg_id == p.msg_id), None)
    return rec.parent_msg_id if rec else ""


def _legacy(r: ServerResult) -> list:
    if not r.legacy:
        return []
    return [blank(), Text("4. The legacy form: a websocket with no subprotocol speaks JSON text", style="bold"),
            Text(_legacy_gist(r.legacy["sent"]), style="dim", overflow="fold"),
            Text(f"the reply: {r.legacy['reply_chars']} characters of JSON, keys {', '.join(r.legacy['reply_keys'])}",
                 style="dim")]


def _legacy_gist(sent: str) -> str:
    """The JSON text kij sent, its header cut down to msg_type and a short msg_id."""
    message = json.loads(sent)
    header = message.get("header", {})
    message["header"] = {"msg_type": header.get("msg_type"), "msg_id": header.get("msg_id", "")[:8] + "…", "…": "…"}
    return json.dumps(message, ensure_ascii=False)


def _document(r: ServerResult) -> list:
    d = r.document
    if d is None:
        return []
    rows = [
        ("written", Text.assemble(_mark(d.absent_before and d.on_disk),
                                  f" absent before kij's PUT /api/contents, {d.size} bytes on disk after it "
                                  "(kij itself only sent HTTP)")),
        ("same bytes", Text.assemble(_mark(d.same_as_api_text), " the file on disk == GET ?type=file&format=text")),
        ("loaded back", Text.assemble(_mark(d.cells_round_trip), " the markdown cell and the code cell, as saved")),
        ("mtime", Text.assemble(_mark(d.mtime_matches), f" == the PUT reply's last_modified {d.last_modified[:19]}")),
        ("kernel's wire", Text.assemble(_mark(d.code_in_trace > 0 and not d.markdown_in_trace and not d.name_in_trace),
                                        f" {d.records_searched} ZeroMQ messages searched: the code in "
                                        f"{d.code_in_trace}, the markdown in {d.markdown_in_trace}, "
                                        f"the file name in {d.name_in_trace}")),
    ]
    parts = [blank(), Text(f"5. The document: {d.path}, saved and loaded through the contents API", style="bold"),
             fact_grid(rows)]
    if d.session_env:
        parts.append(Text(f"The kernel process does know the file's path: the server put JPY_SESSION_NAME="
                          f"{d.session_env.rsplit('/', 1)[-1]} in its environment at launch (ipykernel makes "
                          f"it __session__) — the kernel gets the name, never the document.", style="dim"))
    return parts


def _lives_on(r: ServerResult) -> list:
    life = r.lives_on
    if not life:
        return []
    rows = [("tab closed", f"the kernel is still listed: {life.get('after_close')}"),
            ("new websocket", f"`secret` → {life.get('secret_again')}")]
    if "after_restart" in life:
        rows.append(("REST restart", f"`secret` → {life['after_restart']}"))
    return [blank(), Text("6. Close the tab, open another; then restart", style="bold"), fact_grid(rows)]


def _attached(r: ServerResult) -> list:
    return [blank(), fact_grid([("answer", f"`{ATTACHED_CODE}` → {r.answer}")])]


def _verdicts(r: ServerResult) -> list:
    failed = [a for a in r.capture.acts if not a.ok]
    return [Text.assemble(("✗ ", "bold red"), f"{a.title}: {a.outcome}") for a in failed]


def render(result: ServerResult, compact: bool = False) -> Group:
    """The whole lesson; compact (for the tour) leaves out the ZeroMQ frames and the legacy JSON."""
    r = result
    parts = _intro(r) + _request(r, compact) + _replies(r, compact)
    if r.attached:
        parts += _attached(r)
    else:
        parts += ([] if compact else _legacy(r)) + _document(r) + _lives_on(r)
    parts += _verdicts(r)
    parts.append(takeaway(r.capture.takeaway))
    return Group(*parts)


def render_compact(result: ServerResult) -> Group:
    return render(result, compact=True)


def notice(text: str) -> Text:
    """What kij tells the user before it runs anything on an attached server's kernel."""
    return Text(text, style="yellow")





def capture_intro(cap) -> list:
    """`kij frames --load` of a `kij server` capture: which leg is which (kij.views.frames calls this)."""
    k = cap.kernel
    ws = sum(r.leg == "websocket" for r in cap.messages)
    parts = [Text(f"a kij server capture: {ws} websocket messages (ws·, kij playing the browser) and "
                  f"{len(cap.messages) - ws} ZeroMQ messages between jupyter_server and the kernel "
                  f"(recorded by kij's tap)", overflow="fold")]
    if k is not None:
        bits = [f"{k.name} kernel", f"{k.implementation} {k.implementation_version}", f"protocol {k.protocol_version}"]
        parts.append(Text(" · ".join(bits)))
        if k.key_hint:
            parts.append(Text(f"key {k.key_hint} ({k.signature_scheme}): the server signs; the websocket carries "
                              "no key and no signature", style="dim"))
    return parts
