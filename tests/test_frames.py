"""`kij frames` against real kernels: the wire it shows is the wire that was.

Two kij runs carry most tests: one `--existing` run on a kernel this module started
itself (so the test holds the key, and the kernel's own log), parsed from --json by
several tests; and one run on a kernel kij boots. The references are independent of
kij: hmac from the standard library, jupyter_kernel_test's message schemas, and the
kernel's stderr.
"""

from __future__ import annotations

import contextlib
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

from conftest import KijRunner, Run, no_traceback, reply_and_iopub

DELIMITER = b"<IDS|MSG>"
ANSI = re.compile(r"\x1b\[")
USER_CELL = "x = 1; name = 'me'"  # the names a user had before kij attached


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
    reply = client.execute_interactive(USER_CELL, timeout=10, output_hook=lambda msg: None)
    assert reply["content"]["status"] == "ok"
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
        "doc": json.loads(run.stdout), "stdout": run.stdout, "stderr": run.stderr, "saved": saved,
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
    checked = []
    for rec in existing["doc"]["messages"]:
        if rec["channel"] == "hb" or rec["msg_type"] == "iopub_welcome":  # JEP 65, newer than the schemas
            continue
        validate(rec)
        checked.append(rec["msg_type"])
    # every kind a frames run sends and gets was among them (how many of each varies:
    # a status sent before kij's subscription took hold never reaches the capture)
    assert {"kernel_info_request", "kernel_info_reply", "execute_request", "execute_reply", "execute_input",
            "execute_result", "stream", "status"} <= set(checked), sorted(set(checked))


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


@pytest.mark.parametrize("run", ["existing", "owned"])
def test_control_and_heartbeat(existing, owned, run):
    doc = existing["doc"] if run == "existing" else owned
    control = in_act(doc, "control")
    assert any(r["channel"] == "control" and r["msg_type"] == "kernel_info_request" for r in control)
    assert any(r["channel"] == "control" and r["msg_type"] == "kernel_info_reply" for r in control)
    ping, echo = in_act(doc, "heartbeat")
    assert (ping["direction"], echo["direction"]) == ("to_kernel", "from_kernel")
    assert frame_bytes(ping["frames"][0]) == frame_bytes(echo["frames"][0])
    assert len(ping["frames"]) == 1 and not frame_bytes(ping["frames"][0]).startswith(b"{")


def test_stdin_on_a_kernel_kij_started(owned):
    stdin = in_act(owned, "stdin")
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


def ask(client, expression: str):
    """Evaluate an expression in the kernel through a client of the test's own."""
    reply = client.execute_interactive("", user_expressions={"v": expression}, timeout=30,
                                       output_hook=lambda msg: None)
    value = reply["content"]["user_expressions"]["v"]
    assert value["status"] == "ok", value
    return value["data"]["text/plain"]


def test_an_attached_kernel_keeps_its_names_and_loses_kijs(existing, test_kernel):
    km, client, conn, log = test_kernel
    assert km.is_alive() and conn.exists()
    assert ask(client, "(x, name)") == "(1, 'me')"
    assert ask(client, "[n for n in globals() if n.startswith('_kij_')]") == "[]"
    doc = existing["doc"]
    private = re.findall(r"_kij_[0-9a-f]{8}_x", doc["code"])[0]
    assert not re.search(r"\bx\b", doc["code"])  # the user's x is not kij's to use
    cleanup = act(doc, "cleanup")
    assert cleanup["ok"] and private in cleanup["outcome"]
    runs = [r for r in doc["messages"] if r["msg_type"] == "execute_reply"]
    counts = [r["content"]["execution_count"] for r in runs]
    assert len(runs) == 2 and counts[0] == counts[1] == 2  # the user's cell was 1; kij's cleanup was silent
    assert act(doc, "stdin")["outcome"].startswith("skipped: this kernel is not kij's")


def test_an_attached_kernel_is_told_what_kij_will_run_before_it_runs(existing):
    doc = existing["doc"]
    said = " ".join(existing["stderr"].split())  # however it was wrapped
    notice = doc["kernel"]["notice"]
    assert notice and " ".join(notice.split()) in said
    assert doc["code"] in notice and "execution count" in notice and "del _kij_" in notice
    assert not [r for r in in_act(doc, "stdin") if r["direction"] == "to_kernel"]


def test_a_loaded_capture_repeats_what_kij_said(existing):
    run = existing["kij"].run("frames", "--load", str(existing["saved"]), env={"COLUMNS": "100"})
    assert run.returncode == 0, run.stderr
    assert "Before it began, kij said: this kernel is not kij's" in " ".join(run.stdout.split())


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
    for word in ("<IDS|MSG>", "execute_request", "execute_reply", "input() would be one more cell", "dropped",
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


# --- attaching to a real, shared kernel ---------------------------------------------


@contextlib.contextmanager
def users_kernel(where: Path, name: str = "kernel-users.json", key: bytes | None = None):
    """A kernel started by the test, as JupyterLab or jupyter console would; key=b"" makes
    it unsigned. Yields (manager, client, connection file)."""
    km = KernelManager(kernel_name="python3", connection_file=str(where / name))
    if key is not None:
        km.session.key = key
    km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield km, client, Path(km.connection_file)
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def started_cell(client, code: str) -> str:
    """Send a cell from the test's client; return its msg_id once the kernel has begun it."""
    msg_id = client.execute(code)
    while True:
        msg = client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
            return msg_id


def reply_to(client, msg_id: str, timeout: float = 60) -> dict:
    return reply_and_iopub(client, msg_id, timeout, until_idle=False)[0]["content"]


def test_an_unsigned_kernel_found_by_its_id(kij, tmp_path):
    """An empty key turns signing off: kij says so, skips the forgeries, shows the rest.
    The kernel is named the way `jupyter console --existing` takes it: by its id."""
    runtime = tmp_path / "their-runtime"
    runtime.mkdir()
    with users_kernel(runtime, "kernel-0f1e2d3c-unsigned.json", key=b"") as (km, client, conn):
        assert json.loads(conn.read_text())["key"] == ""
        run = kij.run("frames", "--existing", "0f1e2d3c", "--json", env={"JUPYTER_RUNTIME_DIR": str(runtime)})
        assert run.returncode == 0, run.stderr
        assert no_traceback(run.stderr)
        doc = json.loads(run.stdout)
        assert doc["kernel"]["connection_file"] == str(conn)
        assert act(doc, "execute")["ok"] and act(doc, "cleanup")["ok"]
        for name in ("forged", "replayed"):
            assert act(doc, name)["outcome"].startswith("skipped:"), name
            assert not [r for r in in_act(doc, name) if r["direction"] == "to_kernel"]
        assert "empty key" in act(doc, "forged")["outcome"]
        assert "without the key nothing gets in" not in doc["takeaway"]
        assert all(r["signature_valid"] is None for r in doc["messages"])
        shown = kij.run("frames", "--existing", str(conn), env={"COLUMNS": "80", "NO_COLOR": "1"})
        assert shown.returncode == 0 and "signing is off" in shown.stdout
        assert "signs every message" not in shown.stdout and "HMAC over" not in shown.stdout
        assert ask(client, "[n for n in globals() if n.startswith('_kij_')]") == "[]"


def held_cell(client, flag: Path) -> str:
    """Another client's cell that runs until the test creates `flag` (so the kernel is
    busy for exactly as long as the test needs, however slowly kij starts)."""
    return started_cell(client, f"import os, time\nwhile not os.path.exists({str(flag)!r}):\n"
                                "    time.sleep(0.05)\nfinished = True")


def test_a_busy_kernel_is_waited_for_and_never_interrupted(kij, tmp_path):
    with users_kernel(tmp_path) as (km, client, conn):
        flag = tmp_path / "let-it-finish"
        theirs = held_cell(client, flag)
        run = kij.run("frames", "--existing", str(conn), "--timeout", "3")
        flag.touch()
        assert run.returncode == 1, run.stderr
        said = " ".join(run.stderr.split())
        assert "busy" in said and "never interrupts" in said and "no kernel is answering" not in said
        assert no_traceback(run.stderr)
        assert reply_to(client, theirs)["status"] == "ok"  # their cell ran to its end
        assert ask(client, "finished") == "True"


def test_a_kernel_busy_for_a_while_is_waited_for(kij, tmp_path):
    with users_kernel(tmp_path) as (km, client, conn):
        flag = tmp_path / "let-it-finish"
        theirs = held_cell(client, flag)
        proc = kij.popen("frames", "--existing", str(conn), "--timeout", "60", "--json")
        err = ""
        while "waits up to 60 s" not in " ".join(err.split()):  # kij said it waits: let their cell end
            line = proc.stderr.readline()
            assert line, f"kij never said it waits: {err}"
            err += line
        flag.touch()
        out, rest = proc.communicate(timeout=90)
        kij.assert_clean()
        run = Run(proc.returncode, out, err + rest)
        assert run.returncode == 0, run.stderr
        said = " ".join(run.stderr.split())
        assert "its shell is busy" in said and "waits up to 60 s" in said
        assert reply_to(client, theirs)["status"] == "ok"
        doc = json.loads(run.stdout)
        assert act(doc, "execute")["ok"] and act(doc, "cleanup")["ok"]


def test_a_slow_cell_on_an_attached_kernel_is_not_interrupted(kij, tmp_path):
    with users_kernel(tmp_path) as (km, client, conn):
        run = kij.run("frames", "--existing", str(conn), "--timeout", "1",
                      "--code", "import time; time.sleep(4); slept = True")
        assert run.returncode == 1, run.stderr
        assert "did not interrupt" in run.stderr and no_traceback(run.stderr)
        assert ask(client, "slept") == "True"  # queued behind kij's cell, which ran to its end
        assert "1 · control" in run.stdout and "2 · hb" in run.stdout  # the steps that did run
        assert "neither the execute_reply nor the status idle" in " ".join(run.stdout.split())


def test_kijs_cell_queued_behind_anothers_times_out_and_its_name_still_goes(tmp_path):
    """Another client's cell starts just after kij said what it will run: kij's cell
    waits behind it and --timeout fires. kij interrupts nothing, and queues its cleanup
    behind its own cell, so when the kernel gets to them kij's name comes and goes."""
    from kij.errors import KernelTimeout
    from kij.lessons import frames

    with users_kernel(tmp_path) as (km, client, conn):
        client.execute_interactive(USER_CELL, timeout=10, output_hook=lambda msg: None)
        theirs = []

        def tell(text: str) -> None:
            if text.startswith("this kernel is not kij's"):  # said before kij's cell is sent
                theirs.append(started_cell(client, "import time; time.sleep(4); finished = True"))

        with pytest.raises(KernelTimeout) as failed:
            frames.run(existing=str(conn), timeout=1, tell=tell)
        assert "did not interrupt" in str(failed.value) and "queued `del _kij_" in str(failed.value)
        assert failed.value.capture.acts[-1].name == "execute"  # the steps so far go with the error
        assert reply_to(client, theirs[0])["status"] == "ok"
        assert ask(client, "(finished, x, name)") == "(True, 1, 'me')"
        assert ask(client, "[n for n in globals() if n.startswith('_kij_')]") == "[]"


def test_existing_given_a_capture_points_at_load(existing, owned, kij):
    for saved in (existing["saved"], owned["_test"]["saved"]):
        run = kij.run("frames", "--existing", str(saved))
        assert run.returncode == 2, run.stderr
        assert f"kij frames --load {saved}" in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_kernel_without_a_default_cell_is_refused_before_it_boots(kij, tmp_path):
    """A kernelspec of language "text" whose process, if ever launched, leaves a file."""
    spec = tmp_path / "share" / "kernels" / "text-only"
    spec.mkdir(parents=True)
    launched = tmp_path / "launched"
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", f"open({str(launched)!r}, 'w')", "{connection_file}"],
        "display_name": "text only", "language": "text"}))
    run = kij.run("frames", "-k", "text-only", env={"JUPYTER_PATH": str(tmp_path / "share")})
    assert run.returncode == 2, run.stderr
    assert "pass one with --code" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not launched.exists()


# --- verdicts are computed from the capture -----------------------------------------


def control_records(doc: dict) -> tuple[dict, str, list]:
    from kij import trace

    step = act(doc, "control")
    records = trace.from_document({"messages": in_act(doc, "control")}).messages
    info = next(r.content for r in records if r.msg_type == "kernel_info_reply")
    return info, step["request_msg_id"], records


@pytest.mark.parametrize("run", ["existing", "owned"])
def test_step_one_says_what_reached_iopub(existing, owned, run):
    from kij.lessons.frames import control_outcome

    doc = existing["doc"] if run == "existing" else owned
    info, request_id, records = control_records(doc)
    assert act(doc, "control")["outcome"] == control_outcome(info, request_id, records)
    seen = {r.content["execution_state"] for r in records
            if r.msg_type == "status" and r.parent_msg_id == request_id}
    for state, other in (("busy", "idle"), ("idle", "busy")):  # as if that broadcast had not arrived
        missing = [r for r in records if (r.content or {}).get("execution_state") != state]
        said = control_outcome(info, request_id, missing)
        assert f"status {state}" not in said and "busy and idle" not in said
        if other in seen:  # the real run caught the other one (it misses busy about one run in ten)
            assert f"its {state} did not" in said
    silent = [r for r in records if r.msg_type != "status"]
    said = control_outcome(info, request_id, silent)
    assert "busy" not in said and "idle" not in said
    welcomed = any(r.msg_type == "iopub_welcome" for r in records)
    assert ("iopub is live" in said) == welcomed


def test_the_native_kernels_own_rejection_line_is_the_evidence(kij):
    run = kij.run("frames", "-k", "kij-native", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert act(doc, "forged")["evidence"] == ["[kij-native] rejected on shell: bad signature"]
    assert act(doc, "replayed")["evidence"] == ["[kij-native] rejected on shell: replayed signature"]


def test_the_socket_table_says_xpub_only_when_the_wire_showed_a_welcome():
    """iopub is a PUB or an XPUB; only an iopub_welcome in the capture shows which."""
    from kij.trace import Capture, Record
    from kij.views.frames import kernel_socket

    cap = Capture()
    assert kernel_socket(cap, "iopub", "PUB/XPUB") == "PUB/XPUB"
    assert kernel_socket(cap, "shell", "ROUTER") == "ROUTER"
    cap.messages.append(Record(seq=0, channel="iopub", direction="from_kernel", t_ms=0.0, frames=[],
                               msg_type="iopub_welcome"))
    assert kernel_socket(cap, "iopub", "PUB/XPUB") == "XPUB"
    assert kernel_socket(cap, "shell", "ROUTER") == "ROUTER"
