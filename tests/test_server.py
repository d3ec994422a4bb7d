"""`kij server` against a real jupyter_server, a real websocket client and the real tap.

The websocket bytes are parsed here against jupyter_server's documented v1 layout
(websocket-protocols.rst), not with kij.server's decoder; the HMAC the server put on
the ZeroMQ message is recomputed here with hmac and the connection file's key; the
notebook file on disk is compared with what the contents API returns. Every run is
checked for leftovers: processes carrying the test's marker, connection files, and
kij's temporary server directories (TMPDIR points into the test's own directory).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from conftest import KijRunner, free_tcp_port, lab_serving, no_traceback, processes_with, wait_until
from kij import server as srv
from kij import trace
from kij.lessons import server as lesson
from kij.views import server as view

pytestmark = pytest.mark.timeout(300)


def runner(tmp: Path) -> KijRunner:
    k = KijRunner(tmp)
    (tmp / "tmp").mkdir()
    k.env["TMPDIR"] = str(tmp / "tmp")  # kij's kij-server-* directory lands here, where we can look
    return k


def server_dirs(k: KijRunner) -> list[Path]:
    return sorted(Path(k.env["TMPDIR"]).glob("kij-server-*"))


# --- refused before anything boots --------------------------------------------------------


@pytest.mark.parametrize("args, says", [
    (["--token", "abc"], "--token and --kernel go with --url"),
    (["--url", "ftp://example"], "--url must be"),
    (["--url", "http://127.0.0.1:9"], "--url needs --token"),
    (["--save", "/no/such/dir/cap.jsonl"], "no such directory"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path, args, says):
    k = runner(tmp_path)
    run = k.run("server", *args, timeout=60)
    assert run.returncode == 2, run.stderr
    assert says in run.stderr and no_traceback(run.stderr)
    assert len(run.stderr.strip().splitlines()) == 1
    assert server_dirs(k) == []


def test_an_unreachable_url_is_one_line_and_exit_2(tmp_path):
    k = runner(tmp_path)
    run = k.run("server", "--url", f"http://127.0.0.1:{free_tcp_port()}", "--token", "sekrit-token-123", timeout=60)
    assert run.returncode == 2, run.stderr
    assert "cannot reach a Jupyter server" in run.stderr and no_traceback(run.stderr)
    assert "sekrit-token-123" not in run.stderr + run.stdout


# --- the whole lesson, as a user runs it ---------------------------------------------------


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server-run")
    k = runner(tmp)
    saved = tmp / "capture.jsonl"
    run = k.run("server", "--json", "--save", str(saved), timeout=240)  # checks processes and connection files
    assert run.returncode == 0, run.stderr
    return k, json.loads(run.stdout), saved


def test_nothing_is_left_behind(ran):
    k, doc, _ = ran
    assert server_dirs(k) == []
    assert processes_with(k.marker) == []


def test_every_step_holds(ran):
    _, doc, _ = ran
    acts = {a["name"]: a for a in doc["capture"]["acts"]}
    assert list(acts) == ["session", "execute", "legacy", "document", "lives_on", "restart"]
    assert all(a["ok"] for a in acts.values()), [(a["name"], a["outcome"]) for a in acts.values() if not a["ok"]]
    assert doc["subprotocol"] == srv.V1
    assert doc["lives_on"]["secret_again"] == "42"
    assert doc["lives_on"]["after_restart"].startswith("NameError")


def test_the_server_signed_every_message_it_passed_on(ran):
    _, doc, _ = ran
    on_both = [p for p in doc["pairs"] if p["zmq_seq"] is not None]
    assert any(p["msg_id"] == doc["execute_msg_id"] for p in on_both)
    assert len(on_both) >= 5
    assert all(p["signature_valid"] is True and p["same_bytes"] is True for p in on_both)


def test_the_document_is_the_servers_and_the_kernel_never_saw_it(ran):
    _, doc, _ = ran
    d = doc["document"]
    assert d["absent_before"] and d["on_disk"] and d["same_as_api_text"] and d["cells_round_trip"]
    assert d["code_in_trace"] >= 1
    assert d["markdown_in_trace"] == 0 and d["name_in_trace"] == 0
    assert d["session_env"] and d["session_env"].endswith(lesson.NOTEBOOK)


def test_the_token_is_never_printed_whole(ran):
    _, doc, saved = ran
    hint = doc["token_hint"]
    assert hint.endswith("…") and len(hint) == 5
    assert "token=" not in json.dumps(doc) and "token=" not in saved.read_text()


def v1_parse(raw: bytes) -> tuple[str, list[bytes]]:
    """jupyter_server's v1 layout, read from its documentation: a u64 (little-endian)
    count n, then n u64 offsets; offset 0 starts the channel, then header, parent_header,
    metadata, content and buffers; the last offset is the message's end."""
    n = int.from_bytes(raw[0:8], "little")
    offsets = [int.from_bytes(raw[8 + 8 * i:16 + 8 * i], "little") for i in range(n)]
    assert offsets[0] == 8 * (n + 1), "the parts start right after the table"
    assert offsets[-1] == len(raw), "the last offset is the end of the message"
    chunks = [raw[a:b] for a, b in zip(offsets, offsets[1:])]
    return chunks[0].decode(), chunks[1:]


def test_websocket_bytes_follow_the_documented_v1_layout(ran):
    _, doc, saved = ran
    cap = trace.load(saved)
    binary = [r for r in cap.messages if r.leg == "websocket" and r.frames[0].role == "offsets"]
    assert len(binary) > 10
    for rec in binary:
        raw = b"".join(f.data for f in rec.frames)
        channel, parts = v1_parse(raw)
        assert channel == rec.channel
        header, parent, metadata, content = (json.loads(p) for p in parts[:4])
        assert header["msg_id"] == rec.msg_id and header["msg_type"] == rec.msg_type
        assert content == rec.content and metadata == rec.metadata and parent == rec.parent_header
    sent = next(r for r in binary if r.msg_id == doc["execute_msg_id"])
    assert sent.direction == "to_kernel"
    assert not any(f.role == "signature" for f in sent.frames)  # the browser holds no key


def test_the_legacy_form_is_json_text_with_a_channel(ran):
    _, doc, saved = ran
    legacy = [r for r in trace.load(saved).messages if r.leg == "websocket" and r.frames[0].role == "json"]
    assert legacy and all(json.loads(r.frames[0].text)["channel"] == r.channel for r in legacy)
    assert doc["legacy"]["binary"] is False


def test_kij_frames_loads_the_capture(ran, tmp_path):
    _, doc, saved = ran
    k = runner(tmp_path)
    run = k.run("frames", "--load", str(saved), timeout=60)
    assert run.returncode == 0, run.stderr
    assert "ws·shell" in run.stdout and "a kij server capture" in run.stdout


# --- the same seams, checked here without kij's decoder -----------------------------------


def test_server_signs_what_the_browser_sent_and_writes_the_notebook(tmp_path):
    """A websocket-client of the test's own, and hmac of the test's own."""
    import websocket

    with srv.started() as server:
        assert server.token.encode() not in Path(f"/proc/{server.process.pid}/cmdline").read_bytes()  # ps shows it
        made = server.new_session("t.ipynb", "kij-tap")
        kid = made["kernel"]["id"]
        ws = websocket.create_connection(
            server.url.replace("http", "ws") + f"/api/kernels/{kid}/channels?session_id={uuid.uuid4().hex}",
            subprotocols=[srv.V1], header=[f"Authorization: token {server.token}"], timeout=120)
        msg_id = uuid.uuid4().hex
        header = json.dumps({"msg_id": msg_id, "session": uuid.uuid4().hex, "username": "t", "date": "",
                             "msg_type": "execute_request", "version": "5.3"}).encode()
        content = json.dumps({"code": "6 * 7", "silent": False}).encode()
        chunks = [b"shell", header, b"{}", b"{}", content]
        offsets = [8 * (len(chunks) + 2)]
        for c in chunks:
            offsets.append(offsets[-1] + len(c))
        ws.send_binary(len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets)
                       + b"".join(chunks))
        while True:
            channel, parts = v1_parse(ws.recv_data()[1])
            if channel == "shell" and json.loads(parts[1]).get("msg_id") == msg_id:
                break
        ws.close()
        conn = json.loads((server.runtime / f"kernel-{kid}.json").read_text())
        path = server.runtime / "kij-tap" / f"{kid}.jsonl"
        rec = wait_until(lambda: next((r for r in trace.load(path).messages
                                       if r.msg_id == msg_id and r.direction == "to_kernel"), None),
                         timeout=60, what="the execute_request in the tap's trace")
        frames = [f.data for f in rec.frames]
        at = frames.index(b"<IDS|MSG>")
        signed = frames[at + 2:at + 6]
        assert signed == [header, b"{}", b"{}", content]  # the browser's bytes, as they were
        mac = hmac.new(conn["key"].encode(), digestmod=hashlib.sha256)
        for part in signed:
            mac.update(part)
        assert frames[at + 1].decode() == mac.hexdigest()
        assert lesson.verified(rec, conn["key"].encode(), "hmac-sha256") is True
        rec.frames[at + 5].text = rec.frames[at + 5].text.replace("6 * 7", "6 * 8")  # one byte changed
        assert lesson.verified(rec, conn["key"].encode(), "hmac-sha256") is False

        nb = lesson.notebook()
        server.request("PUT", "api/contents/t.ipynb", {"type": "notebook", "format": "json", "content": nb})
        on_disk = (server.root / "t.ipynb").read_bytes()
        text = server.request("GET", "api/contents/t.ipynb?type=file&format=text&content=1")["content"]
        assert on_disk == text.encode()
        assert "".join(json.loads(on_disk)["cells"][0]["source"]) == lesson.MARKDOWN  # on disk: a list of lines
        home = server.home
    assert not home.exists()


# --- the view, at 80 columns and in the tour's compact form -------------------------------


@pytest.fixture(scope="module")
def result():
    return lesson.run(timeout=60)


def drawn(renderable, width: int) -> str:
    con = Console(record=True, width=width, color_system=None)
    con.print(renderable)
    return con.export_text()


def test_view_fits_80_columns_and_compact_fits_a_tour_screen(result):
    full = drawn(view.render(result), 80)
    assert all(len(line) <= 80 for line in full.splitlines())
    assert "✗" not in full, full
    for needle in ("offsets", "<IDS|MSG>", "signature ✓", "secret` → 42", "NameError", lesson.NOTEBOOK):
        assert needle in full
    compact = drawn(view.render(result, compact=True), 80)
    assert len(compact.splitlines()) <= 60, compact


def test_the_capture_round_trips_through_the_format(result, tmp_path):
    path = tmp_path / "c.jsonl"
    lesson.save(result, str(path))
    back = trace.load(path)
    assert [(r.leg, r.msg_id) for r in back.messages] == [(r.leg, r.msg_id) for r in result.capture.messages]
    assert {r.leg for r in back.messages} == {"websocket", "zmq"}


# --- someone else's server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def users_server(tmp_path_factory):
    """A jupyter_server the "user" started: kij must leave it, and a named kernel, running."""
    tmp = tmp_path_factory.mktemp("users-server")
    port, token = free_tcp_port(), uuid.uuid4().hex
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "rt"), "JUPYTER_CONFIG_DIR": str(tmp / "cfg")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is None and lab_serving(base, token), timeout=120, what="the user's server")
        server = srv.Server(base, token)
        yield server, proc
    finally:
        with_kernels = srv.Server(base, token)
        try:
            with_kernels.request("POST", "api/shutdown", timeout=10)
        except OSError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_refused_token_is_one_line_and_exit_2(users_server, tmp_path):
    server, _ = users_server
    k = runner(tmp_path)
    run = k.run("server", "--url", server.url, "--token", "wrong-token-xyz", timeout=60)
    assert run.returncode == 2, run.stderr
    assert "refused the token" in run.stderr and no_traceback(run.stderr)
    assert "wrong-token-xyz" not in run.stderr


def test_attach_creates_and_removes_its_own_kernel_and_leaves_the_server(users_server, tmp_path):
    server, proc = users_server
    before = {k["id"] for k in server.request("GET", "api/kernels")}
    k = runner(tmp_path)
    run = k.run("server", "--url", server.url, "--token", server.token, "--json", timeout=120)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["answer"] == "1" and doc["attached"] and not doc["named_kernel"]
    assert server.token not in run.stdout + run.stderr
    assert proc.poll() is None
    assert {k["id"] for k in server.request("GET", "api/kernels")} == before  # its own kernel is gone


def test_attach_to_a_named_kernel_leaves_it_running(users_server, tmp_path):
    server, proc = users_server
    kid = server.request("POST", "api/kernels", {"name": "python3"})["id"]
    users = server.websocket(kid, timeout=120)
    cell = {"silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}

    def run_users(code: str) -> tuple[str, int]:
        got = users.answered(users.send("shell", "execute_request", {**cell, "code": code}), 120)
        result = next(m for m in got if m.msg_type == "execute_result").message["content"]
        return result["data"]["text/plain"], result["execution_count"]

    assert run_users("'mine'") == ("'mine'", 1)
    k = runner(tmp_path)
    run = k.run("server", "--url", server.url + "/", "--token", server.token, "--kernel", kid, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "leaves running" in run.stderr  # said before it ran anything
    assert proc.poll() is None
    assert server.request("GET", f"api/kernels/{kid}")["id"] == kid
    assert run_users("_") == ("'mine'", 2)  # kij's cell changed neither `_` nor the execution count
    users.close()
    server.request("DELETE", f"api/kernels/{kid}")
    gone = k.run("server", "--url", server.url, "--token", server.token, "--kernel", kid, timeout=60)
    assert gone.returncode == 2 and "has no kernel" in gone.stderr


# --- every other way a run can end -------------------------------------------------------


def started_kij(tmp_path) -> tuple[KijRunner, subprocess.Popen, Path]:
    """kij server running, its kernel up (the tap has written its trace)."""
    k = runner(tmp_path)
    proc = k.popen("server")
    trace_file = wait_until(lambda: next(iter(Path(k.env["TMPDIR"]).glob("kij-server-*/runtime/kij-tap/*.jsonl")),
                                         None) or (proc.poll() is not None and Path("/exited")),
                            timeout=180, what="the tap's trace")
    assert proc.poll() is None, proc.communicate()
    return k, proc, trace_file


def after(k: KijRunner, proc: subprocess.Popen) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    k.assert_clean()
    assert server_dirs(k) == []
    return out, err


def test_a_server_killed_mid_lesson_is_exit_1_and_leaves_nothing(tmp_path):
    k, proc, trace_file = started_kij(tmp_path)
    info = next(trace_file.parent.parent.glob("jpserver-*.json"))
    os.kill(int(info.stem.split("-")[1]), signal.SIGKILL)
    out, err = after(k, proc)
    assert proc.returncode == 1, err
    assert "jupyter_server" in err and "exited" in err and no_traceback(err)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_shut_everything_down(tmp_path, sig, code):
    k, proc, _ = started_kij(tmp_path)
    proc.send_signal(sig)
    out, err = after(k, proc)
    assert proc.returncode == code, err
    assert no_traceback(err)


def test_a_busy_named_kernel_runs_out_the_timeout_and_is_never_interrupted(users_server, tmp_path):
    server, proc = users_server
    kid = server.request("POST", "api/kernels", {"name": "python3"})["id"]
    try:
        mine = server.websocket(kid, timeout=120)
        busy = mine.send("shell", "execute_request", {"code": "import time; time.sleep(15); 'slept'", "silent": False,
                                                      "store_history": True, "user_expressions": {},
                                                      "allow_stdin": False})
        k = runner(tmp_path)
        run = k.run("server", "--url", server.url, "--token", server.token, "--kernel", kid, "--timeout", "2",
                    timeout=120)
        assert run.returncode == 1, run.stderr
        assert "got no reply over the websocket within 2 s" in run.stderr and no_traceback(run.stderr)
        got = mine.answered(busy, 120)  # the user's cell ends on its own: kij never interrupted it
        reply = next(m for m in got if m.msg_type == "execute_reply")
        assert reply.message["content"]["status"] == "ok"
        assert any(m.msg_type == "execute_result" for m in got)
        mine.close()
    finally:
        server.request("DELETE", f"api/kernels/{kid}")
