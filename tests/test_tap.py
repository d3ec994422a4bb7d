"""kij tap: a real frontend (jupyter_client, jupyter_kernel_test, JupyterLab in
Chromium) talks to a real kernel through the proxy, and the trace holds what passed.

Every test runs in a sandbox (its own runtime directory and an environment marker
that the proxy and the real kernel inherit), and ends by proving no process carrying
the marker survives and no connection file is left. Waiting is on replies, status
idle, process exit and lines in files — never on sleeps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import nbformat
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file
from jupyter_client.manager import KernelManager
from jupyter_client.session import Session
from rich.console import Console

import test_conformance  # TestPython3Control's samples, reused through the tap
from conftest import (MARK, KijRunner, Lab, chromium_path, interrupt, lost_a_port_race, no_traceback, processes_with,
                      raw_dealers, reply_and_iopub, wait_until)
from kij import trace
from kij.tap import Recorder, TraceWriter
from kij.views.frames import message_frames

CHROMIUM = chromium_path()


# --- the sandbox: env marker, runtime dir, trace file --------------------------------


class Sandbox:
    def __init__(self, tmp: Path):
        self.runner = KijRunner(tmp)
        self.marker, self.runtime = self.runner.marker, self.runner.runtime
        self.trace = tmp / "trace.jsonl"
        self.env = {**self.runner.env, "KIJ_TAP_TRACE": str(self.trace)}
        self.patch = pytest.MonkeyPatch()

    def __enter__(self) -> "Sandbox":
        for name in (MARK, "JUPYTER_RUNTIME_DIR", "KIJ_TAP_TRACE"):
            self.patch.setenv(name, self.env[name])
        return self

    def __exit__(self, *exc) -> None:
        self.patch.undo()

    def assert_clean(self) -> None:
        wait_until(lambda: not processes_with(self.marker), timeout=20, what="every tap process to exit")
        assert sorted(self.runtime.glob("kernel-*.json")) == []

    def records(self) -> list[trace.Record]:
        return trace.load(self.trace).messages


def start(kernel_name: str = "kij-tap", log: Path | None = None, **manager_args):
    """A tap kernel started by plain jupyter_client, as a frontend starts it. Its log is
    kept (in `log`, else a temporary file) and quoted if it never answers; a launch
    whose ports were taken first (jupyter_client's race, see conftest) runs once more."""
    for attempt in (1, 2):
        with tempfile.NamedTemporaryFile("w+", suffix=".log") as own:
            path = log or Path(own.name)
            km = KernelManager(kernel_name=kernel_name, **manager_args)
            km.start_kernel(stderr=open(path, "w"))  # open: a restart launches with it again
            kc = km.client()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=60)
                return km, kc
            except Exception as exc:
                stop(km, kc)
                said = path.read_text(errors="replace")
                if attempt == 1 and lost_a_port_race(said):
                    continue
                raise AssertionError(f"{exc}; the proxy's log:\n{said[-3000:]}") from exc


def stop(km, kc) -> None:
    kc.stop_channels()
    if km.has_kernel:
        km.shutdown_kernel()


def proxy_pid(km) -> int:
    return km.provisioner.process.pid


def children(pid: int, guard: bool = False) -> list[int]:
    """PIDs whose parent is pid (from /proc): the real kernel — or, with guard=True,
    the guard that removes the real kernel's connection file once the proxy is gone."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
                is_guard = b"kij-tap-guard" in (proc / "cmdline").read_bytes()
                zombie = "State:\tZ" in (proc / "status").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and not zombie and is_guard == guard:
                found.append(int(proc.name))
    return found


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def shell_reply(kc, msg_id: str, timeout: float = 15) -> dict:
    """The shell reply to msg_id (wait_for_ready may leave a late kernel_info_reply queued)."""
    return reply_and_iopub(kc, msg_id, timeout, until_idle=False)[0]


def run_cell(kc, code: str, timeout: float = 30) -> dict:
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=lambda msg: None)
    return reply["content"]


@pytest.fixture(scope="module")
def tapped(tmp_path_factory):
    """One kij-tap kernel (python3 behind the proxy) for the module's lighter tests."""
    with Sandbox(tmp_path_factory.mktemp("tapped")) as sandbox:
        km, kc = start(log=sandbox.runtime.parent / "proxy.log")
        try:
            yield sandbox, km, kc
        finally:
            stop(km, kc)
        sandbox.assert_clean()


@pytest.fixture
def sandbox(tmp_path):
    with Sandbox(tmp_path) as box:
        yield box
    box.assert_clean()


# --- the trace ---------------------------------------------------------------------------


def between(records, request) -> tuple[trace.Record, list[trace.Record]]:
    """The reply to a request and every iopub message that answered it, in order."""
    mine = [r for r in records if r.parent_msg_id == request.msg_id and r.seq > request.seq]
    reply = next(r for r in mine if r.channel == "shell")
    return reply, [r for r in mine if r.channel == "iopub"]


def assert_cell_traced(records, code_part: str) -> None:
    request = next(r for r in records if r.msg_type == "execute_request" and code_part in r.content["code"])
    assert request.direction == "to_kernel" and request.channel == "shell"
    assert request.signature_valid is True
    assert request.frames[0].role == "identity"  # the frontend's identity, as the kernel's ROUTER sees it
    reply, iopub = between(records, request)
    assert reply.msg_type == "execute_reply" and reply.direction == "from_kernel"
    assert reply.content["status"] == "ok" and reply.signature_valid is True
    kinds = [r.msg_type if r.msg_type != "status" else f"status {r.content['execution_state']}" for r in iopub]
    assert kinds == ["status busy", "execute_input", "stream", "execute_result", "status idle"]
    assert all(r.signature_valid for r in iopub)


def cell_finished(records, code_part: str) -> bool:
    """The trace holds the cell's execute_request and the status idle that ends it."""
    try:
        request = next(r for r in records if r.msg_type == "execute_request" and code_part in r.content["code"])
        reply, iopub = between(records, request)
    except StopIteration:
        return False
    return any(r.msg_type == "status" and r.content["execution_state"] == "idle" for r in iopub)


def test_a_cell_its_reply_and_its_iopub_are_in_the_trace(tapped):
    sandbox, km, kc = tapped
    content = run_cell(kc, "print('through the tap'); 6 * 7")
    assert content["status"] == "ok"
    wait_until(lambda: cell_finished(sandbox.records(), "through the tap"), timeout=10,
               what="the cell's status idle in the trace")
    records = sandbox.records()
    assert_cell_traced(records, "through the tap")
    # the same records in the runtime directory's trace, and the key in neither
    runtime_traces = list((sandbox.runtime / "kij-tap").glob("*.jsonl"))
    assert len(runtime_traces) == 1
    key = km.session.key.decode()
    for path in [sandbox.trace, *runtime_traces]:
        text = path.read_text()
        assert key not in text
    head = json.loads(sandbox.trace.read_text().splitlines()[0])
    assert head["format"] == "kij-frames/1" and head["kernel"]["key_hint"] == key[:4] + "…"
    assert head["kernel"]["name"] == "python3" and head["tap"]["proxy_pid"] == proxy_pid(km)


def test_kij_frames_loads_the_trace(tapped):
    sandbox, km, kc = tapped
    run_cell(kc, "print('loaded later'); 1")
    wait_until(lambda: "loaded later" in sandbox.trace.read_text(), timeout=10, what="the trace")
    proc = sandbox.runner.popen("frames", "--load", str(sandbox.trace))  # not .run: the tapped kernel
    out, err = proc.communicate(timeout=60)                               # shares this sandbox's marker
    assert proc.returncode == 0, err
    assert "execute_request" in out and "execute_reply" in out
    # the head is the tap's, from what the trace knows: no direct-kernel socket table, no None
    assert "a kij tap trace" in out and f"PID {proxy_pid(km)}" in out
    info = kc.kernel_info(reply=True)["content"]  # the kernel's own word, as the trace's kernel_info_reply has it
    assert f"{info['implementation']} {info['implementation_version']}" in out
    assert f"protocol {info['protocol_version']}" in out
    assert "None" not in out.split("1 · captured messages")[0]
    assert "kij's socket" not in out and "XPUB" in out and "XSUB" in out
    ports = km.get_connection_info(session=False)
    shell_row = next(line for line in out.splitlines() if line.startswith("shell "))
    assert str(ports["shell_port"]) in shell_row
    real = json.loads(next(sandbox.runtime.glob("kernel-*-tapped.json")).read_text())
    assert str(real["shell_port"]) in shell_row


def test_stdin_finds_the_frontend_through_the_tap(tapped):
    """input_request goes to the identity that sent execute_request: the proxy's per-client
    DEALERs keep that identity, so the kernel's question reaches the frontend's stdin socket."""
    sandbox, km, kc = tapped
    msg_id = kc.execute("name = input('name? '); print('hello,', name)", allow_stdin=True)
    request = kc.get_stdin_msg(timeout=15)
    assert request["msg_type"] == "input_request" and request["content"]["prompt"] == "name? "
    kc.input("Ada")
    assert shell_reply(kc, msg_id)["content"]["status"] == "ok"
    assert run_cell(kc, "assert name == 'Ada'")["status"] == "ok"


def test_stdin_finds_the_right_one_of_two_frontends(tapped):
    """Two clients share one tap (and so one proxy identity towards the kernel): the
    frontend's own identity frame rides in the envelope, so each input_request comes
    back to the client whose execute_request asked for it — and to no other."""
    sandbox, km, kc = tapped
    other = BlockingKernelClient()  # a session (and so a socket identity) of its own, unlike km.client()
    other.load_connection_info(km.get_connection_info(session=False))
    assert other.session.bsession != kc.session.bsession
    other.start_channels()
    try:
        other.wait_for_ready(timeout=30)
        for asker, answer in ((other, "Grace"), (kc, "Edsger"), (other, "Barbara")):
            msg_id = asker.execute(f"said = input('{answer}? ')", allow_stdin=True)
            request = asker.get_stdin_msg(timeout=15)
            assert request["content"]["prompt"] == f"{answer}? "
            asker.input(answer)
            assert shell_reply(asker, msg_id)["content"]["status"] == "ok"
        assert run_cell(kc, "assert said == 'Barbara'")["status"] == "ok"
        assert not kc.stdin_channel.msg_ready() and not other.stdin_channel.msg_ready()
    finally:
        other.stop_channels()


def test_interrupt_from_the_frontend_reaches_the_real_kernel(tapped):
    sandbox, km, kc = tapped
    msg_id = kc.execute("import time; print('asleep', flush=True); time.sleep(60)")
    while True:  # the cell is in its sleep once it has said so (ipykernel drops a SIGINT
        msg = kc.get_iopub_msg(timeout=15)  # that arrives before it starts running the code)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    km.interrupt_kernel()  # SIGINT to the proxy, as the kernelspec's interrupt_mode says
    reply = shell_reply(kc, msg_id)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"


def test_follow_shows_the_wire_live_and_ctrl_c_exits_130(tapped):
    sandbox, km, kc = tapped
    run_cell(kc, "print('followed'); 2 + 2")
    wait_until(lambda: "followed" in sandbox.trace.read_text(), timeout=10, what="the trace")
    proc = sandbox.runner.popen("tap", "--follow", str(sandbox.trace))
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "Out[" in line and "4" in line:
                break
    finally:
        out, err = interrupt(proc, timeout=15)
    text = "".join(seen) + out
    assert proc.returncode == 130
    assert no_traceback(err)
    assert "execute_request" in text and "✓" in text
    assert "the tap proxy recomputed each HMAC" in text


def test_follow_checks_signatures_itself_with_the_connection_file(tapped):
    sandbox, km, kc = tapped
    proc = sandbox.runner.popen("tap", "--follow", str(sandbox.trace), "--connection-file", km.connection_file)
    try:
        for line in proc.stdout:
            if "execute_reply" in line:
                assert "✓" in line
                break
    finally:
        out, err = interrupt(proc, timeout=15)
    assert proc.returncode == 130 and no_traceback(err)


def test_connect_info_works_behind_the_tap(tapped):
    """%connect_info reads the kernel's own connection file: the tap keeps the real
    kernel's file while it runs (it removes it when it exits: Sandbox.assert_clean)."""
    sandbox, km, kc = tapped
    out = []
    reply = kc.execute_interactive("%connect_info", timeout=30,
                                   output_hook=lambda msg: out.append(msg["content"].get("text", "")))
    assert reply["content"]["status"] == "ok", reply["content"]
    text = "".join(out)
    shown = json.loads(text[:text.index("\n}") + 2])
    (real_file,) = sandbox.runtime.glob("kernel-*-tapped.json")
    assert shown == json.loads(real_file.read_text())  # the real kernel's own ports, behind the proxy
    assert shown["key"].encode() == km.session.key  # the same key: nothing is re-signed
    assert shown["shell_port"] != km.get_connection_info()["shell_port"]
    assert real_file.name in text


def test_sigkill_of_the_proxy_leaves_no_connection_file(sandbox):
    """SIGKILL gives the proxy no chance to clean up: its guard removes the real kernel's
    connection file, and the real kernel follows its parent out."""
    km, kc = start()
    try:
        pid = proxy_pid(km)
        (kernel,) = children(pid)
        (guard,) = children(pid, guard=True)
        assert list(sandbox.runtime.glob("kernel-*-tapped.json"))
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not alive(guard) and not alive(kernel), timeout=20, what="guard and kernel to go")
        assert list(sandbox.runtime.glob("kernel-*-tapped.json")) == []
    finally:
        stop(km, kc)


def test_a_subscription_frame_is_named_for_what_it_is(tapped):
    """An iopub record going *to* the kernel is a SUB's subscription (0x01 + topic)."""
    sandbox, km, kc = tapped
    (sub,) = [r for r in sandbox.records() if r.channel == "iopub" and r.direction == "to_kernel"][:1]
    assert [f.role for f in sub.frames] == ["subscription"] and sub.frames[0].data == b"\x01"
    con = Console(record=True, width=80, color_system=None)
    con.print(message_frames(sub, {}, 0.0))
    drawn = con.export_text()
    assert "[0]     1 B subscription" in drawn and "0x01 subscribe · topic '' (every topic)" in drawn
    assert " ?" not in drawn
    # a trace written before the role had a name reads the same
    old = {**dataclasses.asdict(sub), "frames": [{**dataclasses.asdict(sub.frames[0]), "role": "?"}]}
    assert trace.record_from(old).frames[0].role == "subscription"


def finished_copy(sandbox, tmp_path) -> Path:
    """A copy of the live trace: the same lines, but no tap holds its lock — a recording."""
    wait_until(lambda: cell_finished(sandbox.records(), "copied"), timeout=10, what="the cell in the trace")
    copy = tmp_path / "recording.jsonl"
    copy.write_text(sandbox.trace.read_text())
    return copy


def test_follow_frames_shows_real_offsets_and_a_recording_ends(tapped, tmp_path):
    sandbox, km, kc = tapped
    run_cell(kc, "print('copied'); 3 * 3")
    copy = finished_copy(sandbox, tmp_path)
    assert trace.being_written(sandbox.trace) and not trace.being_written(copy)
    proc = sandbox.runner.popen("tap", "--follow", "--frames", str(copy))
    out, err = proc.communicate(timeout=60)  # a recording does not grow: it ends by itself
    assert proc.returncode == 0 and no_traceback(err), err
    assert "replaying a recording" in out and "its tap exited" in out and "end of the trace" in out
    records = trace.load(copy).messages
    request = next(r for r in records if r.msg_type == "execute_request" and "copied" in r.content["code"])
    reply, _ = between(records, request)
    offsets = re.findall(r"· \+([0-9.]+) ms", out)
    assert len(set(offsets)) > 3  # not +0.0 on every message
    assert f"#{reply.seq} ← shell · execute_reply · +{reply.t_ms - request.t_ms:.1f} ms" in out


def test_follow_watches_the_newest_live_trace_and_says_whose(tapped):
    sandbox, km, kc = tapped
    proc = sandbox.runner.popen("tap", "--follow", env={"KIJ_TAP_TRACE": str(sandbox.trace)})
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "live from here" in line:
                break
    finally:
        out, err = interrupt(proc, timeout=15)
    text = "".join(seen)
    assert proc.returncode == 130 and no_traceback(err)
    head = json.loads(sandbox.trace.read_text().split("\n", 1)[0])
    kernel = Path(head["kernel"]["connection_file"]).stem.removeprefix("kernel-")
    assert f"watching {sandbox.trace}" in text
    assert f"kernel {kernel} (python3)" in text and "live (its tap proxy is writing it)" in text


def test_follow_never_shows_a_finished_trace_as_live(tapped, tmp_path):
    sandbox, km, kc = tapped
    run_cell(kc, "print('copied'); 1")
    copy = finished_copy(sandbox, tmp_path)
    proc = sandbox.runner.popen("tap", "--follow", env={"KIJ_TAP_TRACE": str(copy)})
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "replay it: kij tap --follow" in line:
                break
    finally:
        out, err = interrupt(proc, timeout=15)
    text = "".join(seen) + out
    assert proc.returncode == 130 and no_traceback(err)
    assert "waiting for a live trace" in text and "the newest trace there is a recording" in text
    assert "execute_request" not in text  # nothing of the recording is drawn as if it were happening


def lines_until(proc, wanted: str) -> list[str]:
    """What a running kij printed, line by line, up to the first line holding wanted."""
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if wanted in line:
            return seen
    raise AssertionError(f"kij ended without printing {wanted!r}")


@pytest.mark.parametrize("named", [False, True], ids=["newest live trace", "FILE"])
def test_follow_goes_on_after_a_restart_without_replaying(sandbox, named):
    """A restart ends the proxy (the trace is finished for a moment) and a new proxy
    continues the same trace: --follow says so, and picks up where it stopped."""
    km, kc = start()
    args = ("tap", "--follow", str(sandbox.trace)) if named else ("tap", "--follow")
    proc = sandbox.runner.popen(*args, env={"KIJ_TAP_TRACE": str(sandbox.trace)})
    try:
        before = lines_until(proc, "live from here")
        assert run_cell(kc, "print('before' + ' restart')")["status"] == "ok"
        before += lines_until(proc, "before restart")
        km.restart_kernel()
        kc.wait_for_ready(timeout=60)
        new_proxy = proxy_pid(km)
        assert run_cell(kc, "print('after' + ' restart')")["status"] == "ok"
        after = lines_until(proc, "after restart")
    finally:
        stop(km, kc)
        out, err = interrupt(proc, timeout=15)
    assert proc.returncode == 130 and no_traceback(err)
    text = "".join(after)
    assert "end of the trace: its tap exited" in text and f"watching {sandbox.trace}" in text
    assert "from here a new tap proxy writes this trace" in text and f"proxy PID {new_proxy}" in text
    if named:
        assert "waiting for a tap to take this trace up again" in text
    assert "before restart" not in text  # picked up where it stopped: nothing replayed
    assert sum("execute_request" in line for line in after) == 1


def test_follow_prunes_week_old_finished_traces_and_prune_keeps_live_ones(kij):
    """Traces in the runtime directory: a week-old recording, a fresh one, and one a
    process is writing (this test holds the writer's lock, as a tap proxy does)."""
    from kij.lessons.tap import PRUNE_AFTER_S

    kij.env["COLUMNS"] = "400"  # wide: the paths are long (more so under xdist: popen-gwN/) and must not wrap
    folder = kij.runtime / "kij-tap"
    folder.mkdir()
    head = json.dumps({"format": trace.FORMAT, "kernel": {"name": "python3", "connection_file": "kernel-x.json"},
                       "tap": {"proxy_pid": 1, "started": 0.0}})
    old, fresh, live = (folder / f"{name}.jsonl" for name in ("old", "fresh", "live"))
    for path in (old, fresh, live):
        path.write_text(head + "\n")
    os.utime(old, (0, os.path.getmtime(old) - PRUNE_AFTER_S - 60))
    with open(live, "a") as writer:
        trace.hold_writer_lock(writer)
        proc = kij.popen("tap", "--follow", env={"KIJ_TAP_TRACE": ""})  # the runtime directory's traces
        seen = []
        try:
            for line in proc.stdout:
                seen.append(line)
                if "live (its tap proxy is writing it)" in line:
                    break
        finally:
            out, err = interrupt(proc, timeout=15)
        text = "".join(seen)
        assert proc.returncode == 130 and no_traceback(err)
        assert "removed 1 finished trace(s) not written for a week" in text and str(old) in text
        assert f"watching {live}" in text  # the newest live one, though "fresh" is as new
        assert not old.exists() and fresh.exists()
        run = kij.run("tap", "prune")
        assert run.returncode == 0 and str(fresh) in run.stdout and str(live) not in run.stdout
        assert not fresh.exists() and live.exists()
    assert kij.run("tap", "prune", "--follow").returncode == 2


# --- garbage in, the proxy stays up -----------------------------------------------------

FRAME = st.one_of(st.binary(max_size=64), st.just(b"<IDS|MSG>"), st.just(b"{}"), st.just(b""),
                  st.text(max_size=20).map(lambda s: json.dumps({"msg_type": s}).encode()))


@pytest.fixture(scope="module")
def raw(tapped):
    """Anonymous DEALERs straight onto the proxy's shell and control ports."""
    sandbox, km, kc = tapped
    info = km.get_connection_info(session=False)
    context = zmq.Context()
    sockets = raw_dealers(context, info)
    session = Session(key=info["key"], signature_scheme=info["signature_scheme"])
    yield km, sockets, session
    for s in sockets.values():
        s.close()
    context.term()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(channel=st.sampled_from(["shell", "control"]), frames=st.lists(FRAME, min_size=1, max_size=8))
def test_malformed_frames_never_crash_the_proxy(raw, channel, frames):
    km, sockets, session = raw
    sock = sockets[channel]
    sock.send_multipart(frames)  # passed on as it came; the real kernel drops it
    msg = session.msg("kernel_info_request", {})
    sock.send_multipart(session.serialize(msg))
    while sock.poll(10_000):
        idents, rest = session.feed_identities(sock.recv_multipart())
        reply = session.deserialize(rest)
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            assert reply["msg_type"] == "kernel_info_reply"
            break
    else:
        raise AssertionError("the next valid request got no reply through the tap")
    assert alive(proxy_pid(km))


@settings(max_examples=60, deadline=None)
@given(channel=st.sampled_from(["shell", "control", "stdin", "iopub", "hb"]),
       direction=st.sampled_from(["to_kernel", "from_kernel"]), frames=st.lists(FRAME, min_size=1, max_size=8))
def test_any_frames_become_a_loadable_record(tmp_path_factory, channel, direction, frames):
    """The recorder never raises for what came off the wire, and what it writes loads."""
    path = tmp_path_factory.mktemp("rec") / "t.jsonl"
    writer = TraceWriter(path, {"format": trace.FORMAT, "tap": {"started": 0.0}})
    recorder = Recorder([writer], b"secret-key", "hmac-sha256")
    recorder._write(channel, direction, 0.001, frames, None)
    writer.close()
    (rec,) = trace.load(path).messages
    assert [f.data for f in rec.frames] == frames
    assert rec.channel == channel and rec.direction == direction


def test_a_writer_taking_a_trace_up_goes_on_from_its_last_record(tmp_path):
    """seq and t_ms go on from the trace as written, whatever order its keys are in
    (any writer of kij-frames/1 may have written it: the format fixes no key order)."""
    path = tmp_path / "t.jsonl"
    first = TraceWriter(path, {"format": trace.FORMAT, "tap": {"started": 100.0}})
    recorder = Recorder([first], b"secret-key", "hmac-sha256")
    for i in range(3):
        recorder._write("hb", "to_kernel", 0.001 * i, [b"ping %d" % i], None)
    first.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("".join(json.dumps(json.loads(line), sort_keys=True) + "\n" for line in lines), encoding="utf-8")
    second = TraceWriter(path, {"format": trace.FORMAT, "tap": {"started": 102.5}})
    Recorder([second], b"secret-key", "hmac-sha256")._write("hb", "to_kernel", 0.0, [b"ping 3"], None)
    second.close()
    cap = trace.load(path)
    assert [m.seq for m in cap.messages] == [0, 1, 2, 3]
    assert cap.messages[3].t_ms == 2500.0  # the second writer started 2.5 s after the first
    assert [c["from_seq"] for c in cap.tap["continued_by"]] == [3]


def recorder_on_a_pull(tmp_path, hold_s: float):
    """A Recorder reading a real PULL socket, and the PUSH that plays the devices."""
    import zmq

    path = tmp_path / "t.jsonl"
    writer = TraceWriter(path, {"format": trace.FORMAT, "tap": {"started": 0.0}})
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.bind("inproc://recorder-order-test")
    push = context.socket(zmq.PUSH)
    push.connect("inproc://recorder-order-test")
    recorder = Recorder([writer], b"secret-key", "hmac-sha256", pull, hold_s=hold_s)
    recorder.start()

    def end() -> list[trace.Record]:
        push.close(linger=0)
        context.term()  # the recorder's poll raises ContextTerminated; it writes what it took
        recorder.join(timeout=30)
        return trace.load(path).messages

    return recorder, push, end


def test_the_recorder_writes_every_copy_in_order_past_its_backlog_limit(tmp_path):
    """Copies are taken at once and written when the wire is quiet or TAKEN_MAX wait:
    a burst bigger than that still ends up complete, in wire order, with times that
    never go backwards."""
    from kij.tap import HOLD_S, TAKEN_MAX

    n = TAKEN_MAX * 2 + 500
    recorder, push, end = recorder_on_a_pull(tmp_path, hold_s=HOLD_S)
    try:
        for i in range(n):
            push.send_multipart([b"hb from_kernel", str(i).encode()])
        recorder.wait_quiet()
    finally:
        messages = end()
    assert [m.frames[0].data for m in messages] == [str(i).encode() for i in range(n)]
    times = [m.t_ms for m in messages]
    assert times == sorted(times)


def signed(session, msg_type: str, parent: dict | None = None) -> tuple[dict, list[bytes]]:
    msg = session.msg(msg_type, {"execution_state": "busy"} if msg_type == "status" else {"code": "1"},
                      parent=parent)
    return msg, session.serialize(msg)


def test_a_request_whose_copy_comes_after_its_answers_is_written_before_them(tmp_path):
    """Each device relays first and copies after: a preempted shell thread once handed
    over an execute_request's copy 8 ms after the kernel's iopub answers (a JupyterLab
    run on a loaded 2-core machine). The trace still shows the request first, at the
    time of its first answer, and says its copy was late."""
    from jupyter_client.session import Session

    session = Session(key=b"secret-key", signature_scheme="hmac-sha256")
    recorder, push, end = recorder_on_a_pull(tmp_path, hold_s=60)  # nothing is released by time here
    request, request_frames = signed(session, "execute_request")
    answers = [signed(session, "status", parent=request) for _ in range(3)]
    for _, frames in answers:
        push.send_multipart([b"iopub from_kernel", *frames])
    push.send_multipart([b"shell to_kernel", b"frontend-id", *request_frames])
    recorder.wait_quiet()
    messages = end()
    assert [m.msg_id for m in messages] == [request["header"]["msg_id"], *(a["header"]["msg_id"] for a, _ in answers)]
    first, *rest = messages
    assert first.t_ms == rest[0].t_ms and [m.t_ms for m in messages] == sorted(m.t_ms for m in messages)
    assert "after the first message it caused" in first.note and first.signature_valid is True
    assert all(m.note is None for m in rest)


def test_a_message_whose_parent_never_comes_is_written_after_the_hold_and_order_is_kept(tmp_path):
    """A parent the proxy never relayed (a client connected straight to the real
    kernel's ports, say) cannot hold the trace back for longer than hold_s."""
    from jupyter_client.session import Session

    session = Session(key=b"secret-key", signature_scheme="hmac-sha256")
    recorder, push, end = recorder_on_a_pull(tmp_path, hold_s=0.2)
    elsewhere, _ = signed(session, "execute_request")  # never relayed
    orphan, orphan_frames = signed(session, "status", parent=elsewhere)
    push.send_multipart([b"iopub from_kernel", *orphan_frames])
    push.send_multipart([b"hb to_kernel", b"ping"])
    path = tmp_path / "t.jsonl"
    wait_until(lambda: len(path.read_text(encoding="utf-8").splitlines()) == 3,  # the head line and two records
               timeout=30, what="both records written once the hold has passed")
    messages = end()
    assert [m.channel for m in messages] == ["iopub", "hb"]
    assert messages[0].msg_id == orphan["header"]["msg_id"] and messages[0].note is None


# --- lifecycle through the tap -------------------------------------------------------------


def test_restart_from_the_frontend_replaces_proxy_and_kernel(sandbox):
    km, kc = start()
    try:
        old_proxy = proxy_pid(km)
        (old_kernel,) = children(old_proxy)
        assert run_cell(kc, "state = 'before'")["status"] == "ok"
        km.restart_kernel()  # shutdown_request(restart=True) on control, then a new proxy
        kc.wait_for_ready(timeout=60)
        assert not alive(old_proxy) and not alive(old_kernel)
        (new_kernel,) = children(proxy_pid(km))
        assert new_kernel != old_kernel
        new_proxy = proxy_pid(km)
        assert run_cell(kc, "assert 'state' not in dir()")["status"] == "ok"
    finally:
        stop(km, kc)
    # the restarted proxy continued the same trace: one head line, seq keeps counting
    records = sandbox.records()
    assert [r.seq for r in records] == list(range(len(records)))
    assert sum(1 for r in records if r.msg_type == "shutdown_request") >= 2
    # and says from which record on the new proxy and kernel wrote it
    cap = trace.load(sandbox.trace)
    assert cap.tap["proxy_pid"] == old_proxy and cap.kernel.pid == old_kernel
    (taken_up,) = cap.tap["continued_by"]
    assert taken_up["proxy_pid"] == new_proxy and taken_up["kernel_pid"] == new_kernel
    first_restart = next(r for r in records if r.msg_type == "shutdown_request")
    assert taken_up["from_seq"] > first_restart.seq


def test_the_real_kernels_death_reaches_the_frontend(sandbox):
    km, kc = start()
    try:
        kc.execute("import os; os._exit(3)")
        wait_until(lambda: not km.is_alive(), timeout=20, what="the proxy to exit after its kernel died")
        assert km.provisioner.process.returncode == 1
    finally:
        stop(km, kc)


def test_sigterm_shuts_the_real_kernel_down(sandbox):
    km, kc = start()
    try:
        pid = proxy_pid(km)
        (kernel,) = children(pid)
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not km.is_alive(), timeout=20, what="the proxy to exit on SIGTERM")
        wait_until(lambda: not alive(kernel), timeout=10, what="the real kernel to be shut down")
    finally:
        stop(km, kc)


def test_the_proxy_follows_its_parent(sandbox, tmp_path):
    """When the launcher dies (SIGKILL, no cleanup), the proxy shuts the real kernel down."""
    connection_file = str(tmp_path / "kernel-orphan.json")
    write_connection_file(connection_file, ip="127.0.0.1", key=uuid.uuid4().hex.encode())
    launcher = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', 'kij.tap', '-f', sys.argv[1]], "
         "stderr=subprocess.DEVNULL); print(p.pid, flush=True); sys.stdin.read()", connection_file],
        env=sandbox.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        proxy = int(launcher.stdout.readline())
        wait_until(lambda: children(proxy), timeout=30, what="the real kernel to start")
        wait_until(lambda: list(sandbox.runtime.glob("kernel-*-tapped.json")), timeout=30, what="its connection file")
    finally:
        launcher.kill()
        launcher.wait()
    wait_until(lambda: not processes_with(sandbox.marker), timeout=20, what="proxy and kernel to exit")


def listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses with a listening TCP socket on port (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        ip_hex, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            found.add(".".join(str(int(ip_hex[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_a_non_loopback_ip_is_overridden_with_a_log_line(sandbox, tmp_path):
    log = tmp_path / "proxy.log"
    km, kc = start(log=log, ip="0.0.0.0")
    try:
        assert "kij tap only listens on loopback, binding 127.0.0.1 instead" in log.read_text()
        assert listening_addresses(km.shell_port) == {"127.0.0.1"}
        assert run_cell(kc, "1 + 1")["status"] == "ok"
    finally:
        stop(km, kc)


def test_install_puts_any_kernel_behind_the_tap(sandbox, tmp_path):
    prefix = tmp_path / "env"
    result = sandbox.runner.run("tap", "install", "--kernel", "bash", "--prefix", str(prefix))
    assert result.returncode == 0, result.stderr
    spec = json.loads((prefix / "share/jupyter/kernels/kij-tap-bash/kernel.json").read_text())
    assert spec["argv"][-2:] == ["--kernel", "bash"] and spec["display_name"] == "Bash (kij tap)"
    sandbox.patch.setenv("JUPYTER_PATH", str(prefix / "share/jupyter"))
    km, kc = start("kij-tap-bash")
    try:
        outputs = []
        kc.execute_interactive("echo tapped bash", timeout=30,
                               output_hook=lambda m: outputs.append(m["content"].get("text", "")))
        assert "tapped bash" in "".join(outputs)
    finally:
        stop(km, kc)
    head = json.loads(sandbox.trace.read_text().splitlines()[0])
    assert head["kernel"]["name"] == "bash"
    result = sandbox.runner.run("tap", "uninstall", "--kernel", "bash", "--prefix", str(prefix))
    assert result.returncode == 0 and not (prefix / "share/jupyter/kernels/kij-tap-bash").exists()


def test_user_mistakes_are_one_line_exit_2(kij):
    for args in (["tap", "install"], ["tap", "install", "--kernel", "no-such-kernel"], ["tap", "bogus"],
                 ["tap", "--follow", "/no/such/trace.jsonl"]):
        result = kij.run(*args)
        assert result.returncode == 2, args
        assert no_traceback(result.stderr) and len(result.stderr.strip().splitlines()) == 1


# --- jupyter_kernel_test: the suite passes through the tap as it does against python3 -------


class TestTapKernel(test_conformance.TestPython3Control):
    """TestPython3Control's samples (tests/test_conformance.py), through kij tap.
    (Reached as a module attribute, so pytest does not collect the control twice.)"""

    kernel_name = "kij-tap"

    @classmethod
    def setUpClass(cls) -> None:  # the suite boots its kernel here: inside a sandbox
        import tempfile

        cls.sandbox = Sandbox(Path(tempfile.mkdtemp(prefix="kij-tap-suite-"))).__enter__()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        cls.sandbox.__exit__()
        cls.sandbox.assert_clean()


# --- JupyterLab in Chromium --------------------------------------------------------------


def kernel_idle_in_the_status_bar(page, timeout_ms: int = 90_000) -> None:
    """Wait until JupyterLab has a *connected* kernel that said idle.

    Not the toolbar's `.jp-Notebook-ExecutionIndicator[data-status='idle']`: that
    indicator starts out as "idle" when the notebook is attached, before any session
    or kernel exists. A Shift+Enter in that window is silently dropped by JupyterLab
    (CodeCell.execute returns when sessionContext.session.kernel is null). The status
    bar's "<kernel> | Idle" comes from sessionContext.kernelDisplayStatus, which says
    "Idle" only once a kernel connection is 'connected' and its iopub said idle.
    """
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$")).first.wait_for(timeout=timeout_ms)


def run_cell_in_lab(page, index: int) -> None:
    """Click into the index-th cell's editor and press Shift+Enter, as a person does."""
    page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").nth(index).click()
    page.keyboard.press("Shift+Enter")


def output_of_cell(page, index: int, text: str):
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output", has_text=text).first


LAB_CELLS = [
    "print('from the browser', 6 * 7)\n6 * 7",
    "import time\nprint('asleep', flush=True)\ntime.sleep(60)",
    "print('after the restart:', 'time' in dir())",
]


@pytest.mark.timeout(300)
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here: .ci/run installs Debian's chromium")
def test_jupyterlab_cell_on_the_tap_kernel_is_in_the_trace(sandbox, tmp_path):
    """A cell run, interrupted and restarted from JupyterLab's UI, through the tap.

    KIJ_TEST_LAB_KERNEL=python3 runs the same browser steps without the tap, for
    comparison (it then fails only on the trace assertions: there is no tap)."""
    root = tmp_path / "lab"
    root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in LAB_CELLS])
    nb.metadata["kernelspec"] = {"name": os.environ.get("KIJ_TEST_LAB_KERNEL", "kij-tap"),
                                 "display_name": "Python 3 (kij tap)", "language": "python"}
    nbformat.write(nb, root / "tapped.ipynb")
    lab = Lab(tmp_path, root, sandbox.env)
    try:
        lab.wait_serving()
        with lab.page("tapped.ipynb", {"width": 1200, "height": 800}) as page:
            kernel_idle_in_the_status_bar(page)
            try:
                run_cell_in_lab(page, 0)
                output_of_cell(page, 0, "from the browser 42").wait_for(timeout=90_000)
                # interrupt: the toolbar's stop button → SIGINT to the proxy → the real kernel
                run_cell_in_lab(page, 1)
                output_of_cell(page, 1, "asleep").wait_for(timeout=60_000)
                page.locator(".jp-NotebookPanel-toolbar [data-command='notebook:interrupt-kernel']").click()
                output_of_cell(page, 1, "KeyboardInterrupt").wait_for(timeout=60_000)
                kernel_idle_in_the_status_bar(page)
                # restart: the toolbar's restart button and its dialog → a new proxy and kernel
                page.locator(".jp-NotebookPanel-toolbar [data-command='notebook:restart-kernel']").click()
                page.locator(".jp-Dialog .jp-mod-accept").click()
                wait_until(lambda: sandbox.trace.exists() and any(
                    r.msg_type == "shutdown_request" and (r.content or {}).get("restart") is True
                    for r in sandbox.records()), timeout=60, what="the restart's shutdown_request in the trace")
                kernel_idle_in_the_status_bar(page)
                run_cell_in_lab(page, 2)
                output_of_cell(page, 2, "after the restart: False").wait_for(timeout=90_000)
            finally:
                page.screenshot(path=str(tmp_path / "tap-lab.png"))
        wait_until(lambda: sandbox.trace.exists() and cell_finished(sandbox.records(), "from the browser")
                   and cell_finished(sandbox.records(), "after the restart"),
                   timeout=30, what="the cells' status idle in the trace")
        records = sandbox.records()
        assert_cell_traced(records, "from the browser")
        sleeper = next(r for r in records if r.msg_type == "execute_request" and "time.sleep(60)" in r.content["code"])
        reply, _ = between(records, sleeper)
        assert reply.content["status"] == "error" and reply.content["ename"] == "KeyboardInterrupt"
        assert [r.seq for r in records] == list(range(len(records)))  # the new proxy continued the trace
    finally:
        lab.stop()
