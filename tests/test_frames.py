"""`kij frames` against real kernels: the wire it shows is the wire that was.

Two kij runs carry most tests: one `--existing` run on a kernel this module started
itself (so the test holds the key, and the kernel's own log), parsed from --json by
several tests; and one run on a kernel kij boots. The references are independent of
kij: hmac from the standard library, jupyter_kernel_test's message schemas, and the
kernel's stderr.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager
from jupyter_kernel_test.msgspec_v5 import validate_message

from conftest import KijRunner, no_traceback

DELIMITER = b"<IDS|MSG>"
ANSI = re.compile(r"\x1b\[")


# --- shared runs --------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_kernel(tmp_path_factory):
    """A kernel started by the test (as JupyterLab would), with its log in a file we read."""
    where = tmp_path_factory.mktemp("lab")
    log = open(where / "kernel.log", "w+b")
    km = KernelManager(kernel_name="python3", connection_file=str(where / "kernel-lab.json"))
    km.start_kernel(stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    client = km.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    try:
        yield km, client, Path(km.connection_file), where / "kernel.log"
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
        log.close()


@pytest.fixture(scope="module")
def existing(test_kernel, tmp_path_factory):
    """One `kij frames --existing … --json --save` run, shared by the tests below."""
    km, client, conn, log = test_kernel
    kij = KijRunner(tmp_path_factory.mktemp("kij-existing"))
    saved = kij.runtime.parent / "capture.json"
    run = kij.run("frames", "--existing", str(conn), "--json", "--save", str(saved))
    assert run.returncode == 0, run.stderr
    return {
        "doc": json.loads(run.stdout), "stdout": run.stdout, "saved": saved,
        "key": json.loads(conn.read_text())["key"].encode(), "kij": kij,
    }


@pytest.fixture(scope="module")
def owned(tmp_path_factory):
    """One `kij frames --json` run on a kernel kij boots (and must shut down)."""
    kij = KijRunner(tmp_path_factory.mktemp("kij-owned"))
    saved = kij.runtime.parent / "trace.jsonl"
    run = kij.run("frames", "--json", "--save", str(saved))  # run() asserts nothing survived
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    doc["_test"] = {"kij": kij, "saved": saved}
    return doc


def frame_bytes(frame: dict) -> bytes:
    return frame["text"].encode() if frame.get("text") is not None else bytes.fromhex(frame["hex"])


def act(doc: dict, name: str) -> dict:
    return next(a for a in doc["acts"] if a["name"] == name)


def in_act(doc: dict, name: str) -> list[dict]:
    return [m for m in doc["messages"] if m["act"] == name]


def as_message(rec: dict) -> dict:
    return {k: rec[k] for k in ("header", "parent_header", "metadata", "content")} | {"buffers": []}


def validate(rec: dict) -> None:
    """jupyter_kernel_test's schema, except one known slip of that schema: it types
    input_request.password as a number, where the messaging spec (and every kernel)
    says boolean. We check the boolean ourselves and hand the schema a number."""
    msg = as_message(rec)
    if rec["msg_type"] == "input_request":
        assert isinstance(msg["content"]["password"], bool)
        msg["content"] = {**msg["content"], "password": int(msg["content"]["password"])}
    validate_message(msg)


# --- the lifecycle of one cell ------------------------------------------------------


def test_one_execute_request_blooms_into_the_lifecycle(existing):
    doc = existing["doc"]
    records = in_act(doc, "execute")
    request = records[0]
    assert (request["channel"], request["direction"], request["msg_type"]) == ("shell", "to_kernel", "execute_request")
    answers = [r for r in records if r["direction"] == "from_kernel"]
    assert all(r["parent_msg_id"] == request["msg_id"] for r in answers)
    sequence = [(r["channel"], r["msg_type"], (r["content"] or {}).get("execution_state")) for r in answers]
    iopub = [s for s in sequence if s[0] == "iopub"]
    assert iopub == [("iopub", "status", "busy"), ("iopub", "execute_input", None), ("iopub", "stream", None),
                     ("iopub", "execute_result", None), ("iopub", "status", "idle")]
    assert ("shell", "execute_reply", None) in sequence
    by_type = {r["msg_type"]: r for r in answers}
    assert by_type["stream"]["content"]["text"] == "the answer is 42\n"
    assert by_type["execute_result"]["content"]["data"]["text/plain"] == "42"
    times = [r["t_ms"] for r in records]
    assert times == sorted(times)


def test_frames_are_laid_out_around_the_delimiter(existing):
    for rec in existing["doc"]["messages"]:
        frames = rec["frames"]
        assert [f["length"] for f in frames] == [len(frame_bytes(f)) for f in frames]
        if rec["channel"] == "hb":
            assert [f["role"] for f in frames] == ["heartbeat"]
            continue
        raw = [frame_bytes(f) for f in frames]
        at = raw.index(DELIMITER)
        roles = [f["role"] for f in frames]
        assert roles[at:at + 6] == ["delimiter", "signature", "header", "parent_header", "metadata", "content"]
        assert set(roles[:at]) <= ({"topic"} if rec["channel"] == "iopub" else {"identity"})
        assert json.loads(raw[at + 2]) == rec["header"]
        assert json.loads(raw[at + 5]) == rec["content"]


def test_every_message_follows_the_spec(existing):
    checked = 0
    for rec in existing["doc"]["messages"]:
        if rec["channel"] == "hb" or rec["msg_type"] == "iopub_welcome":  # JEP 65, newer than the schemas
            continue
        validate(rec)
        checked += 1
    assert checked >= 25


def test_signatures_recomputed_from_the_connection_file(existing):
    key = existing["key"]
    verdicts = {}
    for rec in existing["doc"]["messages"]:
        if rec["channel"] == "hb":
            assert rec["signature_valid"] is None
            continue
        raw = [frame_bytes(f) for f in rec["frames"]]
        at = raw.index(DELIMITER)
        mac = hmac.new(key, digestmod=hashlib.sha256)
        for part in raw[at + 2:at + 6]:
            mac.update(part)
        valid = hmac.compare_digest(mac.hexdigest().encode(), raw[at + 1])
        assert rec["signature_valid"] is valid, rec["seq"]
        verdicts[rec["seq"]] = valid
    forged = act(existing["doc"], "forged")["request_msg_id"]
    bad = [r["seq"] for r in existing["doc"]["messages"] if r["msg_id"] == forged]
    assert [seq for seq, ok in verdicts.items() if not ok] == bad and len(bad) == 1


def test_the_key_is_never_shown_in_full(existing):
    key = existing["key"].decode()
    assert key not in existing["stdout"]
    assert key not in existing["saved"].read_text()
    assert existing["doc"]["kernel"]["key_hint"] == key[:4] + "…"


# --- the other sockets --------------------------------------------------------------


def test_control_heartbeat_and_stdin(existing):
    doc = existing["doc"]
    control = in_act(doc, "control")
    assert any(r["channel"] == "control" and r["msg_type"] == "kernel_info_request" for r in control)
    assert any(r["channel"] == "control" and r["msg_type"] == "kernel_info_reply" for r in control)
    ping, echo = in_act(doc, "heartbeat")
    assert (ping["direction"], echo["direction"]) == ("to_kernel", "from_kernel")
    assert frame_bytes(ping["frames"][0]) == frame_bytes(echo["frames"][0])
    assert len(ping["frames"]) == 1 and not frame_bytes(ping["frames"][0]).startswith(b"{")
    stdin = in_act(doc, "stdin")
    ask = next(r for r in stdin if r["msg_type"] == "input_request")
    answer = next(r for r in stdin if r["msg_type"] == "input_reply")
    assert ask["channel"] == answer["channel"] == "stdin"
    assert answer["parent_msg_id"] == ask["msg_id"] and answer["content"] == {"value": "Ada"}
    assert any(r["msg_type"] == "stream" and r["content"]["text"] == "hello, Ada\n" for r in stdin)


# --- security -----------------------------------------------------------------------


@pytest.mark.parametrize("name, log_word", [("forged", "Invalid Signature"), ("replayed", "Duplicate Signature")])
def test_forged_and_replayed_requests_get_no_reply(existing, test_kernel, name, log_word):
    doc = existing["doc"]
    step = act(doc, name)
    records = in_act(doc, name)
    bad = records[0]
    assert bad["direction"] == "to_kernel" and bad["msg_id"] == step["request_msg_id"]
    assert not any(r["parent_msg_id"] == bad["msg_id"] for r in records if r["direction"] == "from_kernel")
    probe = records[1]
    assert probe["msg_type"] == "kernel_info_request" and probe["channel"] == "shell"
    assert any(r["parent_msg_id"] == probe["msg_id"] and r["channel"] == "shell" for r in records)
    if name == "replayed":
        original = next(r for r in doc["messages"] if r["msg_id"] == bad["msg_id"])
        assert original["seq"] < bad["seq"] and original["frames"] == bad["frames"]
    assert step["ok"] and "not ours to read" in " ".join(step["evidence"])
    assert log_word in test_kernel[3].read_text()  # the kernel's own stderr says why


def test_a_kernel_kij_boots_shows_its_own_log_as_evidence(owned):
    assert owned["kernel"]["existing"] is False and owned["kernel"]["pid"]
    assert any("Invalid Signature" in line for line in act(owned, "forged")["evidence"])
    assert any("Duplicate Signature" in line for line in act(owned, "replayed")["evidence"])
    for rec in owned["messages"]:
        if rec["direction"] == "from_kernel" and rec["channel"] != "hb" and rec["msg_type"] != "iopub_welcome":
            validate(rec)


def test_save_as_json_lines_loads_back(owned):
    saved, kij = owned["_test"]["saved"], owned["_test"]["kij"]
    lines = saved.read_text().splitlines()
    assert len(lines) == 1 + len(owned["messages"])
    assert "messages" not in json.loads(lines[0])
    run = kij.run("frames", "--load", str(saved), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["messages"] == owned["messages"]


def test_existing_kernel_keeps_running_with_kijs_state(existing, test_kernel):
    km, client, conn, log = test_kernel
    assert km.is_alive() and conn.exists()
    reply = client.execute_interactive("x", timeout=10, output_hook=lambda msg: None)
    assert reply["content"]["status"] == "ok"  # kij's cell ran in this very kernel
    msg_id = client.execute("print(x * 2)")
    while True:
        msg = client.get_iopub_msg(timeout=10)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            assert msg["content"]["text"] == "84\n"
            break


# --- saved captures -----------------------------------------------------------------


def test_load_shows_the_same_messages(existing, tmp_path):
    kij = existing["kij"]
    run = kij.run("frames", "--load", str(existing["saved"]), "--json")
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout)
    assert loaded["messages"] == existing["doc"]["messages"]
    assert loaded["acts"] == existing["doc"]["acts"]


def test_load_accepts_json_lines(existing, tmp_path):
    doc = dict(existing["doc"])
    records = doc.pop("messages")
    with_head = tmp_path / "trace.jsonl"
    with_head.write_text("\n".join(json.dumps(x) for x in [doc, *records]) + "\n")
    bare = tmp_path / "bare.jsonl"  # records only, the way a proxy might stream them
    bare.write_text("".join(json.dumps(r) + "\n" for r in records))
    for path in (with_head, bare):
        run = existing["kij"].run("frames", "--load", str(path), "--json")
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["messages"] == records


@pytest.mark.parametrize("columns", ["80", "40"])
def test_rendering_fits_and_stays_plain_when_piped(existing, columns):
    run = existing["kij"].run("frames", "--load", str(existing["saved"]), env={"COLUMNS": columns, "NO_COLOR": "1"})
    assert run.returncode == 0, run.stderr
    assert not ANSI.search(run.stdout)
    assert all(len(line) <= int(columns) for line in run.stdout.splitlines())
    for word in ("<IDS|MSG>", "execute_request", "execute_reply", "input_request", "dropped",
                 "not ours to read", "no kernel was started"):
        assert word in " ".join(run.stdout.split()), word  # however the lines were wrapped
    assert existing["key"].decode() not in run.stdout


# --- bad input and bad kernels ------------------------------------------------------


def _bad_files(tmp: Path) -> dict[str, Path]:
    (tmp / "not-json.json").write_text("{")
    (tmp / "no-ports.json").write_text(json.dumps({"ip": "127.0.0.1", "key": "k"}))
    (tmp / "empty.json").write_text(json.dumps({"messages": []}))
    (tmp / "a-dir.json").mkdir()
    (tmp / "junk.jsonl").write_text('{"channel": "shell"}\nnot json\n')
    return {p.name: p for p in tmp.iterdir()}


@pytest.mark.parametrize("args, says", [
    (["--code", ""], "empty"),
    (["--code", "   "], "empty"),
    (["--kernel", "no-such-kernel"], "no kernel named"),
    (["--existing", "{tmp}/missing.json"], "no such connection file"),
    (["--existing", "{tmp}/not-json.json"], "not a connection file"),
    (["--existing", "{tmp}/no-ports.json"], "missing"),
    (["--existing", "{tmp}/a-dir.json"], "cannot read"),
    (["--load", "{tmp}/missing.json"], "no such capture file"),
    (["--load", "{tmp}/not-json.json"], "not a kij frames capture"),
    (["--load", "{tmp}/empty.json"], "no messages"),
    (["--load", "{tmp}/junk.jsonl"], "not a kij frames capture"),
    (["--load", "{tmp}/a-dir.json"], "cannot read"),
    (["--save", "{tmp}/no/such/dir/x.json"], "no such directory"),
])
def test_bad_input_is_one_line_and_exit_2(kij, tmp_path, args, says):
    _bad_files(tmp_path)
    run = kij.run("frames", *[a.format(tmp=tmp_path) for a in args])
    assert run.returncode == 2, run.stderr
    assert says in run.stderr and no_traceback(run.stderr)
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_hanging_cell_is_interrupted(kij):
    run = kij.run("frames", "--code", "import time; time.sleep(600)", "--timeout", "1")
    assert run.returncode == 1
    assert "longer than 1 s" in run.stderr and "interrupted" in run.stderr
    assert no_traceback(run.stderr)


def test_a_cell_that_kills_the_kernel(kij):
    run = kij.run("frames", "--code", "import os; os._exit(1)")
    assert run.returncode == 1
    assert "the python3 kernel died" in run.stderr and no_traceback(run.stderr)
