"""`kij parallel` on real ipyparallel clusters: no mocks.

One lesson run (in this process) for the facts and the view; `kij` as a subprocess
for the paths that must leave nothing behind: a clean run with --json/--save, an
engine killed mid-run, Ctrl-C while engines register, attach mode (a "user's"
cluster started here with ipyparallel, and stopped here, in a finally).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest
from rich.console import Console

from kij import trace, views
from kij.lessons import parallel as lesson
from kij.views import parallel as view
from conftest import KijRunner, interrupt, no_traceback, processes_with, wait_until

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def result():
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    res = lesson.run(timeout=60)
    left = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not [p for p in map(_alive, left) if p], "cluster processes outlived the lesson"
    assert not Path(res.profile_dir).exists(), "the private profile directory was not removed"
    return res


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def doc(result):
    return views.facts(result)


def records(doc: dict, act: str) -> list[dict]:
    return [m for m in doc["capture"]["messages"] if m["act"] == act]


# --- the facts ---------------------------------------------------------------------------


def test_every_step_succeeded_and_every_signature_matched(doc):
    assert [a["name"] for a in doc["capture"]["acts"]] == [
        "registration", "heartbeat", "kernel_info", "apply", "map", "bind",
        "engine:control", "engine:heartbeat", "engine:execute"]
    assert [a["name"] for a in doc["capture"]["acts"] if not a["ok"]] == []
    signed = [m for m in doc["capture"]["messages"] if m["channel"] != "hb"]
    assert signed and all(m["signature_valid"] is True for m in signed)


def test_registration_handshake_was_captured_through_the_relay(doc):
    recs = records(doc, "registration")
    requests = [r for r in recs if r["msg_type"] == "registration_request"]
    replies = [r for r in recs if r["msg_type"] == "registration_reply"]
    assert len(requests) == len(replies) == 2
    uuids = {r["content"]["uuid"] for r in requests}
    assert uuids == {e["uuid"] for e in doc["engines"]}
    assert sorted(r["content"]["id"] for r in replies) == [0, 1]
    # the engine's own identity is the routing frame in front of its request
    assert all(r["frames"][0]["text"] == r["content"]["uuid"] for r in requests)
    notified = [r for r in recs if r["msg_type"] == "registration_notification"]
    assert len(notified) == 2 and notified[0]["seq"] > max(r["seq"] for r in replies[:1])


def test_engines_are_ipython_kernels(doc):
    for e in doc["engines"]:
        assert e["applied"] and e["pid"]
        assert e["implementation"] == "ipython"
        assert e["kernel_class"][0].endswith("IPythonParallelKernel")
        assert "ipykernel.ipkernel.IPythonKernel" in e["kernel_class"]


def test_apply_carries_pickles_as_buffers_and_the_engine_identity_says_who_answered(doc):
    recs = records(doc, "apply")
    by_uuid = {e["uuid"]: e for e in doc["engines"]}
    requests = [r for r in recs if r["msg_type"] == "apply_request"]
    replies = [r for r in recs if r["msg_type"] == "apply_reply"]
    assert len(requests) == len(replies) == 2
    for r in requests + replies:
        roles = [f["role"] for f in r["frames"]]
        assert roles[:2] == ["identity", "delimiter"] and roles[-1] == "buffer"
        assert r["buffers"] == roles.count("buffer") >= 1
        assert r["frames"][0]["text"] in by_uuid
    for reply in replies:  # the identity in front is the engine the metadata names
        assert reply["metadata"]["engine"] == reply["frames"][0]["text"]


def test_map_over_the_task_scheduler(doc):
    results = doc["map_results"]
    assert [m["value"] for m in results] == [x * x for x in lesson.MAP_ITEMS]
    pids = {e["id"]: e["pid"] for e in doc["engines"]}
    assert all(m["pid"] == pids[m["engine"]] for m in results)
    assert all(r["frames"][0]["role"] == "delimiter"  # kij names no engine: the scheduler picks
               for r in records(doc, "map") if r["msg_type"] == "apply_request")


def test_engines_dial_out_and_nothing_else_dials_them(doc):
    procs = doc["topology"]
    engines = [p for p in procs if p["role"] in ("engine 0", "engine 1")]
    assert len(engines) == 2
    for e in engines:
        assert {"mux", "task", "iopub", "hb_ping", "hb_pong"} <= {u["name"] for u in e["connects_to"]}
        for port in e["listening"]:
            assert port["loopback"] and set(port["peers"]) <= {e["role"], f"{e['role']}'s nanny"}
    controller_ports = {u["name"] for p in procs if p["role"].startswith("controller") for u in p["listening"]}
    assert {"mux", "task", "registration", "hb_ping", "hb_pong"} <= controller_ports


def test_bound_engine_answers_kij_frames(doc):
    names = {u["name"] for p in doc["bound_topology"] for u in p["listening"]}
    assert {"bound shell", "bound iopub", "bound control", "bound hb"} <= names
    dialled = {u["name"]: u["peers"] for p in doc["bound_topology"] for u in p["listening"]}
    assert "kij" in dialled["bound shell"]
    assert Path(doc["bound_connection_file"]).name.startswith("kernel-")
    out = [r for r in records(doc, "engine:execute") if r["msg_type"] == "execute_result"]
    assert out and out[0]["content"]["data"]["text/plain"] == "42"


# --- the view ----------------------------------------------------------------------------


def drawn(result, width: int, compact: bool = False) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(view.render(result, compact=compact))
    return console.export_text()


def test_view_at_80_and_40_columns(result):
    for width in (80, 40):
        text = drawn(result, width)
        assert max(map(len, text.splitlines())) <= width
        assert "apply_request" in text and "registration_request" in text
    assert "✓ every connection between an engine and the controller was" in drawn(result, 80)


def test_compact_view_fits_the_tour(result):
    text = drawn(result, 80, compact=True)
    assert len(text.splitlines()) <= 75
    assert "buffer" in text  # the apply_request's frames, pickles and all


def test_saved_capture_loads_in_kij_frames(result, tmp_path):
    path = tmp_path / "parallel.jsonl"
    lesson.save(result, path)
    cap = trace.load(path)
    assert [a.name for a in cap.acts] == [a.name for a in result.capture.acts]
    assert len(cap.messages) == len(result.capture.messages)


# --- the CLI, as a subprocess: nothing left behind on any path -----------------------------


def private_tmp(kij: KijRunner, tmp_path: Path) -> Path:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    kij.env["TMPDIR"] = str(tmp)
    return tmp


def test_cli_json_and_save_leave_nothing(kij, tmp_path):
    tmp = private_tmp(kij, tmp_path)
    save = tmp_path / "cap.jsonl"
    run = kij.run("parallel", "--engines", "1", "--json", "--save", str(save), timeout=240)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert len(doc["engines"]) == 1 and doc["owned"]
    assert list(tmp.glob("kij-parallel-*")) == []
    shown = subprocess.run(kij.command("frames", "--load", str(save)), env=kij.env, text=True, capture_output=True)
    assert shown.returncode == 0 and "apply_request" in shown.stdout


def engine_pids(marker: str) -> list[int]:
    return [int(line.split(":", 1)[0]) for line in processes_with(marker) if "ipyparallel.engine" in line]


def registered(pid: int) -> bool:
    """An engine that has registered has dialled mux, task, broadcast, iopub and the heart: many connections."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return sum(c.status == psutil.CONN_ESTABLISHED for c in conns) >= 8


def test_engine_killed_mid_run_is_reported_and_nothing_is_left(kij, tmp_path):
    tmp = private_tmp(kij, tmp_path)
    proc = kij.popen("parallel", "--engines", "2")
    try:
        pid = wait_until(lambda: next((p for p in engine_pids(kij.marker) if registered(p)), None),
                         timeout=180, what="a registered engine")
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert f"(PID {pid}) died" in err and no_traceback(err)
    kij.assert_clean()
    assert list(tmp.glob("kij-parallel-*")) == []


def test_ctrl_c_while_engines_register(kij, tmp_path):
    tmp = private_tmp(kij, tmp_path)
    proc = kij.popen("parallel", "--engines", "2")
    wait_until(lambda: engine_pids(kij.marker), timeout=180, what="engine processes")
    out, err = interrupt(proc, timeout=120)
    assert proc.returncode == 130, err
    assert no_traceback(err)
    kij.assert_clean()
    assert list(tmp.glob("kij-parallel-*")) == []


def answer() -> int:
    return 6 * 7


answer.__module__ = "__main__"  # the engine cannot import this test module


def test_attach_leaves_the_users_cluster_running(kij, tmp_path):
    import ipyparallel as ipp

    profile = tmp_path / "profile_user"
    user = ipp.Cluster(n=1, profile_dir=str(profile), log_level=40)
    rc = user.start_and_connect_sync()
    try:
        rc.wait_for_engines(1, timeout=120)
        run = kij.run("parallel", "--profile-dir", str(profile), "--json", timeout=240)
        assert run.returncode == 0, run.stderr
        doc = json.loads(run.stdout)
        assert not doc["owned"] and len(doc["engines"]) == 1
        assert "this cluster is not kij's" in run.stderr  # said before anything ran
        skipped = {a["name"]: a["outcome"] for a in doc["capture"]["acts"] if a["outcome"].startswith("skipped")}
        assert set(skipped) == {"registration", "bind"}
        assert rc[:].apply_sync(answer) == [42]  # still running, still answering
        assert user.controller.running
        roles = {p["role"] for p in doc["topology"]}
        assert {"controller", "engine 0"} <= roles  # a local cluster: its processes' sockets were read
    finally:
        rc.close()
        user.stop_cluster_sync()


@pytest.mark.parametrize("args, says", [
    (["--engines", "0"], "--engines must be between 1"),
    (["--profile", "a", "--profile-dir", "b"], "give one"),
    (["--profile-dir", "/nonexistent/kij"], "no such profile directory"),
    (["--profile-dir", "/nonexistent/kij", "--engines", "3"], "--engines starts engines of kij's own"),
])
def test_bad_flags_exit_2_before_anything_starts(kij, args, says):
    run = kij.run("parallel", *args, timeout=60)
    assert run.returncode == 2 and says in run.stderr and no_traceback(run.stderr)
    assert len(run.stderr.strip().splitlines()) == 1


def test_sigterm_once_engines_are_registered(kij, tmp_path):
    tmp = private_tmp(kij, tmp_path)
    proc = kij.popen("parallel", "--engines", "1")
    try:
        wait_until(lambda: any(registered(p) for p in engine_pids(kij.marker)), timeout=180,
                   what="a registered engine")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert no_traceback(err)
    kij.assert_clean()
    assert list(tmp.glob("kij-parallel-*")) == []
