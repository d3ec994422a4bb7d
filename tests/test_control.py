"""`kij control` on real kernels: one lesson run for the whole module.

Orderings are read from the capture (which message arrived first), never from
durations. Every message whose type jupyter_kernel_test's msgspec knows is validated.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from jupyter_kernel_test.msgspec_v5 import schema_fragments, validate_message
from rich.console import Console

from kij import trace
from kij.lessons import control as lesson
from kij.views import control as view

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def result():
    saved = os.environ.get("JUPYTER_PATH")
    r = lesson.run()
    assert os.environ.get("JUPYTER_PATH") == saved  # the private kernelspec's path is gone again
    return r


def records(result, act: str) -> list[trace.Record]:
    return [r for r in result.capture.messages if r.act == act]


def first(recs, **want) -> trace.Record:
    return next(r for r in recs if all(getattr(r, k) == v for k, v in want.items()))


def reply_to(recs, req: trace.Record) -> trace.Record:
    return next(r for r in recs if r.parent_msg_id == req.msg_id and r.channel == req.channel
                and (r.msg_type or "").endswith("_reply"))


def sent(recs, msg_type: str, channel: str | None = None) -> list[trace.Record]:
    return [r for r in recs if r.direction == "to_kernel" and r.msg_type == msg_type
            and (channel is None or r.channel == channel)]


# --- every message -------------------------------------------------------------------


def test_every_message_with_a_schema_is_valid_and_signed(result):
    checked = 0
    for rec in result.capture.messages:
        assert rec.signature_valid is True, rec.msg_type
        if rec.msg_type in schema_fragments:
            validate_message({"header": rec.header, "parent_header": rec.parent_header,
                              "metadata": rec.metadata, "content": rec.content, "buffers": []})
            checked += 1
    assert checked > 50


def test_parts_in_order_and_all_ok(result):
    assert [p.name for p in result.parts] == [
        "connect", "queue", "subshells", "interrupt-signal", "interrupt-message", "debugger", "secrecy", "curve"]
    assert [a.name for a in result.capture.acts] == [p.name for p in result.parts]
    shown = [p for p in result.parts if p.name != "curve" or __import__("zmq").has("curve")]
    assert all(p.ok for p in shown), [(p.name, p.says) for p in shown if not p.ok]


def test_every_answer_is_shown_in_the_part_of_its_request(result):
    act_of = {r.msg_id: r.act for r in result.capture.messages if r.msg_id}
    stray = [(r.seq, r.msg_type, r.act) for r in result.capture.messages
             if r.parent_msg_id in act_of and act_of[r.parent_msg_id] != r.act]
    assert stray == []


# --- 1: shell is a queue, control is not -------------------------------------------


def test_control_answers_before_the_cell_ends_and_shell_after(result):
    recs = records(result, "queue")
    cell = first(recs, msg_type="execute_request")
    on_shell = sent(recs, "kernel_info_request", "shell")[0]
    on_control = sent(recs, "kernel_info_request", "control")[0]
    assert cell.seq < on_shell.seq < on_control.seq
    cell_reply, shell_reply, control_reply = (reply_to(recs, r) for r in (cell, on_shell, on_control))
    assert control_reply.seq < cell_reply.seq < shell_reply.seq
    q = result.queue
    assert q.control_before_cell and q.shell_after_cell
    text = " ".join(result.parts[1].says)
    assert f"{q.shell_wait_ms:.0f} ms" in text and f"{q.control_wait_ms:.1f} ms" in text


# --- 3: subshells ----------------------------------------------------------------------


def test_subshell_reply_overtakes_the_main_shell(result):
    recs = records(result, "subshells")
    s = result.subshells
    assert s.advertised and s.subshell_id
    main, sub = sent(recs, "execute_request", "shell")
    assert "subshell_id" not in main.header and sub.header["subshell_id"] == s.subshell_id
    main_reply, sub_reply = reply_to(recs, main), reply_to(recs, sub)
    assert sub_reply.seq < main_reply.seq
    assert "subshell_id" not in sub_reply.header  # matched only through parent_header
    assert sub_reply.parent_header["subshell_id"] == s.subshell_id
    assert s.subshell_result == "42"
    for kind in ("create_subshell_request", "list_subshell_request", "delete_subshell_request"):
        assert all(r.channel == "control" for r in sent(recs, kind))
    assert s.listed == [s.subshell_id] and s.listed_after_delete == []


# --- 2: interrupt, two ways ---------------------------------------------------------


def test_interrupt_by_signal_sends_nothing_on_the_wire(result):
    recs = records(result, "interrupt-signal")
    cell = first(recs, msg_type="execute_request")
    reply = reply_to(recs, cell)
    between = [r for r in recs if cell.seq < r.seq < reply.seq and r.direction == "to_kernel"]
    assert between == []
    assert reply.content["status"] == "error" and reply.content["ename"] == "KeyboardInterrupt"
    error = first(recs, msg_type="error")
    assert error.parent_msg_id == cell.msg_id and error.content["ename"] == "KeyboardInterrupt"
    # iopub keeps its own order (the error, then the cell's idle); against the shell
    # reply it has none: kij reads the two sockets in whichever order they arrive
    idle = next(r for r in recs if r.parent_msg_id == cell.msg_id and r.msg_type == "status"
                and r.content.get("execution_state") == "idle")
    assert error.seq < idle.seq
    assert result.interrupts[0].kernelspec_interrupt_mode == "signal"


def test_interrupt_by_message_travels_on_control(result):
    recs = records(result, "interrupt-message")
    cell = sent(recs, "execute_request")[0]
    (req,) = sent(recs, "interrupt_request")
    assert req.channel == "control" and cell.seq < req.seq
    assert reply_to(recs, req).content["status"] == "ok"
    reply = reply_to(recs, cell)
    assert req.seq < reply.seq and reply.content["ename"] == "KeyboardInterrupt"
    assert result.interrupts[1].kernelspec_interrupt_mode == "message"


# --- 4: the debugger ----------------------------------------------------------------


def test_debugger_stops_answers_on_control_and_continues(result):
    recs = records(result, "debugger")
    requests = sent(recs, "debug_request")
    assert all(r.channel == "control" for r in requests)
    commands = [r.content["command"] for r in requests]
    assert commands == ["initialize", "attach", "debugInfo", "dumpCell", "setBreakpoints", "configurationDone",
                        "stackTrace", "scopes", "variables", "continue", "disconnect"]
    for r in requests:
        assert reply_to(recs, r).content["success"] is True, r.content["command"]
    stopped = next(r for r in recs if r.msg_type == "debug_event" and r.content["event"] == "stopped")
    cont = requests[commands.index("continue")]
    cell = sent(recs, "execute_request")[0]
    cell_reply = reply_to(recs, cell)
    assert cell.seq < stopped.seq < cont.seq < cell_reply.seq
    variables = reply_to(recs, requests[commands.index("variables")])
    assert variables.seq < cell_reply.seq  # control answered while shell was blocked
    assert result.debugger.variables == {"a": "42", "h": "7", "w": "6"}
    assert result.debugger.stopped_line == lesson.BREAK_LINE and result.debugger.ended


# --- 5: iopub_welcome and the versions ---------------------------------------------


def test_welcome_frames_and_versions(result):
    recs = records(result, "connect")
    welcomes = [r for r in recs if r.msg_type == "iopub_welcome"]
    assert welcomes and all(r.parent_header == {} for r in welcomes)
    for w in welcomes:
        topic = w.content["subscription"]
        expect = "delimiter" if topic == "" else "topic"
        assert w.frames[0].role == expect
        assert len(w.frames) == 6 + (topic != "")
    assert any(w.content["subscription"].startswith("kij-") for w in welcomes)
    info = first(recs, msg_type="kernel_info_reply")
    assert result.versions.reply_protocol == info.content["protocol_version"]
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3").to_dict()
    assert result.versions.kernelspec_protocol == spec.get("kernel_protocol_version")


def test_signed_is_not_secret(result):
    recs = records(result, "secrecy")
    echoed = first(recs, msg_type="execute_input")
    assert "hunter2" in echoed.content["code"] and echoed.signature_valid



@pytest.mark.skipif(not __import__("zmq").has("curve"), reason="this pyzmq has no CURVE")
def test_under_curvezmq_the_keyed_sniffer_reads_and_the_keyless_one_gets_nothing(result):
    s = result.secrecy
    assert s.encrypted and s.why_not == ""
    assert s.keyed_read == "kij_secret = 'hunter2'" and s.keyed_reply_ms is not None
    assert s.keyless_got == "nothing"
    recs = records(result, "curve")
    unanswered = [r.msg_type for r in recs if r.direction == "to_kernel"
                  and not any(a.parent_msg_id == r.msg_id for a in recs)]
    said = " ".join(next(p for p in result.parts if p.name == "curve").says)
    if "could not even hand" in said:  # the keyless DEALER never had a connection to queue it on
        assert unanswered == []
    else:
        assert unanswered == ["kernel_info_request"] and "got nothing back" in said


# --- nothing left behind ----------------------------------------------------------


def test_nothing_left_behind(result):
    assert len(result.kernel_pids) == (3 if result.secrecy.encrypted else 2)
    for pid in result.kernel_pids:
        assert not Path(f"/proc/{pid}").exists() or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    for path in result.connection_files:
        assert not Path(path).exists()
    assert result.kernelspec_dir and not Path(result.kernelspec_dir).exists()
    assert Path(result.debugger.source_path).parent == lesson.dumped_cells_dir(result.kernel_pids[0])
    assert not Path(result.debugger.source_path).parent.exists()  # ipykernel's dumped cells


# --- kij.kernel.await_reply's earlier= and stop_on=, which the lesson waits with -------


def msg(msg_type: str, parent: str, channel: str = "iopub", **content) -> SimpleNamespace:
    """A message as await_reply reads one: plain data, no socket behind it."""
    return SimpleNamespace(msg_type=msg_type, parent_id=parent, channel=channel, content=content)


def test_await_reply_counts_what_arrived_while_kij_waited_for_another_request():
    from kij.kernel import await_reply

    earlier = [msg("status", "a", execution_state="busy"), msg("kernel_info_reply", "a", "control"),
               msg("status", "a", execution_state="idle")]
    got = await_reply(lambda ms: [], "a", "kernel_info_reply", 0.05, "control", earlier=earlier)
    assert got.reply is earlier[1] and got.busy and got.idle


def test_await_reply_with_stop_on_waits_for_that_message_not_the_reply():
    from kij.kernel import await_reply

    arriving = [[msg("execute_reply", "c", "shell"), msg("status", "c", execution_state="idle")],
                [msg("debug_event", "other", event="stopped")], []]
    stopped = lambda m: m.msg_type == "debug_event" and m.content.get("event") == "stopped"  # noqa: E731
    got = await_reply(lambda ms: arriving.pop(0), "c", "execute_reply", 5.0, stop_on=stopped)
    assert got.stopped_on is not None and got.stopped_on.parent_id == "other" and arriving == [[]]
    never = await_reply(lambda ms: [], "c", "execute_reply", 0.05, stop_on=stopped,
                        earlier=[msg("execute_reply", "c", "shell"), msg("status", "c", execution_state="idle")])
    assert never.stopped_on is None and never.reply is not None


def test_the_topic_kij_subscribed_with_sniffer_subscribe_was_welcomed(result):
    topics = [w.subscription for w in result.versions.welcomes]
    assert any(t.startswith("kij-") for t in topics), topics


def test_the_second_kernels_times_count_from_the_first_sniffers_opening(result):
    first = [r.t_ms for r in records(result, "interrupt-signal")]
    second = [r.t_ms for r in records(result, "interrupt-message")]
    assert second and min(second) > max(first)  # Sniffer.opened_at lines the two sniffers up


# --- the view, the trace ------------------------------------------------------------


@pytest.mark.parametrize("width", [60, 80, 120])
def test_view_at_width(result, width):
    con = Console(record=True, width=width, color_system=None)
    con.print(view.render(result))
    text = con.export_text()
    assert all(len(line) <= width for line in text.splitlines())
    flowing = " ".join(text.split())
    for part in result.parts:
        for sentence in part.says:  # wrapped at spaces: no word cut in two
            assert " ".join(sentence.split()) in flowing, sentence
    assert "kernel_info_request" in text and "debug_event" in text and "↳#" in text
    assert "create_subshell_reply" in text
    if width >= 80:  # at 60 these lines are cut with … before it
        assert "6 * 7 · subshell_id " in text  # parts.summary reads the header
        assert "welcomes the subscription 'kij-" in text  # the topic kij subscribed to


def test_view_folds_debugpys_runs_of_identical_events(result):
    con = Console(record=True, width=100, color_system=None)
    con.print(view.render(result))
    folded = [line for line in con.export_text().splitlines() if "debug_event" in line and " ×" in line]
    assert folded, "debugpy sends runs of identical module/thread events; they fold into one line"


def test_saved_capture_loads_in_kij_frames(result, tmp_path):
    path = tmp_path / "control.json"
    trace.save(result.capture, path)
    loaded = trace.load(path)
    assert len(loaded.messages) == len(result.capture.messages)
    assert [a.name for a in loaded.acts] == [p.name for p in result.parts]
    run = subprocess.run([sys.executable, "-m", "kij", "frames", "--load", str(path)],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "100"})
    assert run.returncode == 0, run.stderr
    assert "debug_request" in run.stdout and "create_subshell_request" in run.stdout
    assert "kernel log" not in run.stdout  # kij's sentences are not the kernel's log lines
    flowing = " ".join(run.stdout.split())
    assert " ".join(result.parts[1].says[1].split()) in flowing


def test_cli_json():
    run = subprocess.run([sys.executable, "-m", "kij", "control", "--json"],
                         capture_output=True, text=True, timeout=170)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["queue"]["control_before_cell"] is True


# --- SIGTERM while the debugger holds the cell at its breakpoint --------------------

RUN_LESSON = """
import sys
from kij.kernel import raise_on_sigterm
from kij.lessons import control
raise_on_sigterm()
try:
    control.run()
except BaseException as exc:
    print(type(exc).__name__)
    print(exc, file=sys.stderr)
    sys.exit(143)
"""


KERNELS = 3 if __import__("zmq").has("curve") else 2  # the third runs under CurveZMQ


def stopped_at_breakpoint(connection_files: list[Path], lesson: subprocess.Popen) -> Path | None:
    """Listen on every kernel's iopub with a socket of the test's own until one says
    debug_event "stopped"; return that kernel's connection file, or None once the
    lesson has ended or its kernels have been quiet for two minutes."""
    import zmq

    ctx = zmq.Context.instance()
    poller, socks = zmq.Poller(), {}
    for path in connection_files:
        info = json.loads(path.read_text())
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(f"{info['transport']}://{info['ip']}:{info['iopub_port']}")
        poller.register(sub, zmq.POLLIN)
        socks[sub] = path
    try:
        quiet = 0
        while quiet < 120 and lesson.poll() is None:
            ready = dict(poller.poll(1000))
            quiet = 0 if ready else quiet + 1
            for sub in ready:
                frames = b"".join(sub.recv_multipart())
                if b"debug_event" in frames and b'"stopped"' in frames:
                    return socks[sub]
        return None
    finally:
        for sub in socks:
            sub.close()


@pytest.mark.parametrize("blow", ["SIGTERM to kij", "the kernel killed"])
def test_at_the_breakpoint_a_fault_leaves_nothing_behind(kij, tmp_path, blow):
    from conftest import processes_with, wait_until

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", RUN_LESSON], env={**kij.env, "TMPDIR": str(tmp)},
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def written() -> list[Path]:
        files = [f for f in kij.connection_files() if f.stat().st_size > 0]
        return files if len(files) == KERNELS else []

    files = wait_until(written, timeout=90, what="every kernel's connection file")
    stopped = stopped_at_breakpoint(files, proc)
    if stopped is None:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"no kernel said it stopped at the breakpoint; the lesson printed:\n{out}\n{err}")
    if blow == "SIGTERM to kij":
        proc.send_signal(signal.SIGTERM)
        expect = "Terminated"
    else:
        (line,) = [p for p in processes_with(kij.marker) if stopped.name in p]
        os.kill(int(line.split(":")[0]), signal.SIGKILL)
        expect = "KernelDied"
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and out.strip() == expect, err
    if expect == "KernelDied":  # a kernel's fault says in which part of the lesson it came
        assert "(in the part: the debugger" in err, err
    kij.assert_clean()
    assert list(tmp.glob("kij-control-*")) == []  # the private kernelspec went too
    assert list(tmp.glob("ipykernel_*")) == []  # and the cell the debugger dumped


def test_a_refused_initialize_is_asked_once_more_then_said_plainly():
    """A real refusal: the kernel's debugpy port is set to one this test holds."""
    import socket

    from kij.kernel import started
    from kij.sniffer import Sniffer

    with socket.socket() as hold, started(["python3"]) as (kernel,):
        hold.bind(("127.0.0.1", 0))
        hold.listen()
        port = hold.getsockname()[1]
        kernel.execute(f"get_ipython().kernel.debugger.debugpy_client.debugpy_port = '{port}'")
        kernel.client.iopub_channel.stop()
        with Sniffer(kernel.connection_info) as sn:
            d = lesson.Debugger()
            with pytest.raises(lesson.Refused, match=r"refused initialize: its reply gave no reason.*"
                                                    r"\(2 times; ipykernel refuses initialize"):
                lesson._initialize(lesson.Dap(sn, kernel, d), d)
    assert d.initialize_refused == 2 and d.commands == {"initialize": False}


def test_save_must_be_writable_before_anything_boots(tmp_path):
    from kij.errors import UserError

    with pytest.raises(UserError, match="cannot write"):
        lesson.check_flags(save=str(tmp_path / "missing" / "control.jsonl"))
    lesson.check_flags(save=str(tmp_path / "control.jsonl"))
    lesson.check_flags(save=None)
