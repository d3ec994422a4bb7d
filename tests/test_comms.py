"""`kij comms` on a real python3 kernel: one lesson run for the whole module.

Every message with a schema in jupyter_kernel_test's msgspec is validated (comm_open,
comm_msg and comm_close have none there: their spec fields are checked here); the
lessons's claims are checked as orderings in the capture, never as durations.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from jupyter_kernel_test.msgspec_v5 import msg_structure_validator, schema_fragments, validate_message
from rich.console import Console

from kij import trace, views
from kij.lessons import comms as lesson
from kij.views import comms as view


@pytest.fixture(scope="module")
def result():
    return lesson.run(timeout=30)


@pytest.fixture(scope="module")
def doc(result):
    return views.facts(result)


def records(doc: dict, act: str | None = None) -> list[dict]:
    return [m for m in doc["capture"]["messages"] if act is None or m["act"] == act]


def one(recs: list[dict], **want) -> dict:
    found = [r for r in recs if all(r.get(k) == v for k, v in want.items())]
    assert len(found) == 1, (want, [(r["seq"], r["msg_type"]) for r in recs])
    return found[0]


def from_kernel_with_parent(doc: dict, parent: dict) -> list[dict]:
    return [r for r in records(doc) if r["parent_msg_id"] == parent["msg_id"] and r["direction"] == "from_kernel"]


def act(doc: dict, name: str) -> dict:
    return next(a for a in doc["capture"]["acts"] if a["name"] == name)


# --- the wire: schemas and signatures -------------------------------------------------


COMM_FIELDS = {"comm_open": {"comm_id", "target_name", "data"}, "comm_msg": {"comm_id", "data"},
               "comm_close": {"comm_id", "data"}}


def test_every_message_is_valid_and_signed(doc):
    checked = set()
    for rec in records(doc):
        msg = {k: rec[k] for k in ("header", "parent_header", "metadata", "content")} | {"buffers": []}
        msg_structure_validator.validate(msg)
        if rec["msg_type"] in schema_fragments:
            validate_message(msg)
        if rec["msg_type"] in COMM_FIELDS:  # the messaging spec's fields; msgspec_v5 has no schema for comms
            assert COMM_FIELDS[rec["msg_type"]] <= set(rec["content"]), rec
            assert isinstance(rec["content"]["data"], dict)
        assert rec["signature_valid"] is True, rec["seq"]
        checked.add(rec["msg_type"])
    assert {"comm_open", "comm_msg", "comm_close", "comm_info_request", "comm_info_reply",
            "execute_request", "execute_reply", "status"} <= checked


def test_every_act_succeeded(doc):
    assert [a["name"] for a in doc["capture"]["acts"]] == [
        "connect", "register", "comm_open", "comm_msg", "comm_info", "comm_close", "comm_info_after",
        "unregister", "widget", "drag", "busy", "states"]
    assert [a["name"] for a in doc["capture"]["acts"] if not a["ok"]] == []


# --- 6: a comm by hand ----------------------------------------------------------------------


def test_the_target_is_kijs_own_and_unregistered(doc):
    target = doc["target"]
    assert re.fullmatch(r"kij_demo_[0-9a-f]{8}", target)
    cell = one(records(doc, "unregister"), msg_type="execute_request")
    printed = one(from_kernel_with_parent(doc, cell), msg_type="stream")
    assert printed["content"]["text"] == "False\n"  # `target in comm_manager.targets`, printed by the kernel
    probe = one(records(doc, "unregister"), msg_type="comm_open")
    assert probe["content"]["target_name"] == target
    closed = one(from_kernel_with_parent(doc, probe), msg_type="comm_close")
    assert closed["channel"] == "iopub" and closed["content"]["comm_id"] == probe["content"]["comm_id"]
    said = one(from_kernel_with_parent(doc, probe), msg_type="stream")
    assert said["content"] == {"name": "stderr", "text": f"No such comm target registered: {target}\n"}
    assert said["seq"] < closed["seq"]


def test_comm_open_is_answered_by_a_comm_msg_on_iopub(doc):
    sent = one(records(doc, "comm_open"), msg_type="comm_open")
    assert sent["direction"] == "to_kernel" and sent["channel"] == "shell"
    assert sent["content"]["target_name"] == doc["target"]
    back = [r for r in from_kernel_with_parent(doc, sent) if r["msg_type"] != "status"]
    assert [(r["channel"], r["msg_type"]) for r in back] == [("iopub", "comm_msg")]
    assert back[0]["content"]["comm_id"] == doc["comm_id"]
    assert back[0]["content"]["data"] == {"hello": "from the kernel", "you_sent": {"from": "kij"}}


def test_comm_msg_goes_both_ways(doc):
    sent = one(records(doc, "comm_msg"), msg_type="comm_msg", direction="to_kernel")
    back = one(from_kernel_with_parent(doc, sent), msg_type="comm_msg")
    assert back["content"]["data"] == {"doubled": 42}
    assert sent["seq"] < back["seq"]


def test_comm_info_lists_the_comm_then_not(doc):
    before = one(records(doc, "comm_info"), msg_type="comm_info_reply")
    assert before["channel"] == "shell"
    assert before["content"]["comms"] == {doc["comm_id"]: {"target_name": doc["target"]}}
    after = one(records(doc, "comm_info_after"), msg_type="comm_info_reply")
    assert doc["comm_id"] not in after["content"]["comms"]


def test_comms_have_no_replies_on_shell(doc):
    sent = [r for r in records(doc) if r["direction"] == "to_kernel" and r["msg_type"] in COMM_FIELDS]
    assert len(sent) >= 3
    for s in sent:
        assert not [r for r in from_kernel_with_parent(doc, s) if r["channel"] == "shell"]
        # ... and the kernel did handle it: busy then idle, with it as parent
        states = [r["content"]["execution_state"] for r in from_kernel_with_parent(doc, s) if r["msg_type"] == "status"]
        assert states == ["busy", "idle"]
    # a later request on the same shell socket was answered: the kernel had dealt with them all
    later = [r for r in records(doc) if r["channel"] == "shell" and r["direction"] == "from_kernel"
             and r["seq"] > max(s["seq"] for s in sent[:3])]
    assert later
    assert doc["replies_to_comms"] == []
    assert "Comms have no replies" in doc["no_reply_proof"]


# --- 7: a widget --------------------------------------------------------------------------


def test_the_slider_cell_opens_one_widget_comm_per_model(doc):
    opens = [r for r in records(doc, "widget") if r["msg_type"] == "comm_open"]
    assert all(r["channel"] == "iopub" and r["direction"] == "from_kernel" for r in opens)
    assert {r["content"]["target_name"] for r in opens} == {"jupyter.widget"}
    names = [r["content"]["data"]["state"]["_model_name"] for r in opens]
    assert sorted(names) == ["IntSliderModel", "LayoutModel", "SliderStyleModel"]
    assert [w["model_name"] for w in doc["widgets"]] == names
    assert {r["metadata"]["version"] for r in opens} == {"2.1.0"}
    slider = next(r for r in opens if r["content"]["data"]["state"]["_model_name"] == "IntSliderModel")
    state = slider["content"]["data"]["state"]
    assert state["value"] == lesson.START_VALUE
    assert doc["view_model_id"] == slider["content"]["comm_id"]
    others = {r["content"]["comm_id"] for r in opens} - {slider["content"]["comm_id"]}
    assert {state["layout"][len("IPY_MODEL_"):], state["style"][len("IPY_MODEL_"):]} == others
    cell = one(records(doc, "widget"), msg_type="execute_request")
    states = [r for r in from_kernel_with_parent(doc, cell) if r["msg_type"] == "status"]
    busy, idle = (one(states, content={"execution_state": s}) for s in ("busy", "idle"))
    assert busy["seq"] < min(r["seq"] for r in opens) and max(r["seq"] for r in opens) < idle["seq"]  # while it ran


def test_a_drag_is_echoed_and_read_by_the_next_cell(doc):
    drag = records(doc, "drag")
    update = one(drag, msg_type="comm_msg", direction="to_kernel")
    assert update["content"]["data"] == {"method": "update", "state": {"value": lesson.DRAGGED_TO},
                                         "buffer_paths": []}
    echo = one(from_kernel_with_parent(doc, update), msg_type="comm_msg")
    assert echo["channel"] == "iopub"
    assert echo["content"]["data"] == {"method": "echo_update", "state": {"value": lesson.DRAGGED_TO},
                                       "buffer_paths": []}
    read = one(drag, msg_type="execute_result")
    assert read["content"]["data"]["text/plain"] == str(lesson.DRAGGED_TO) == doc["value_after_update"]
    assert echo["seq"] < read["seq"]


def test_a_drag_while_a_cell_sleeps_waits_for_the_cell(doc):
    busy = records(doc, "busy")
    cell = [r for r in busy if r["msg_type"] == "execute_request"][0]  # the sleeping cell, then the read
    assert "time.sleep" in cell["content"]["code"]
    started = one(from_kernel_with_parent(doc, cell), msg_type="execute_input")
    update = one(busy, msg_type="comm_msg", direction="to_kernel")
    cell_reply = one(from_kernel_with_parent(doc, cell), msg_type="execute_reply")
    handled = from_kernel_with_parent(doc, update)
    cell_idle = one(from_kernel_with_parent(doc, cell), msg_type="status", content={"execution_state": "idle"})
    assert started["seq"] < update["seq"] < cell_reply["seq"]  # sent while the cell ran
    assert cell_idle["seq"] < min(r["seq"] for r in handled)  # taken up only after it (both on iopub)
    assert doc["busy_order"]["cell_idle"] == cell_idle["seq"]
    printed = "".join(r["content"]["text"] for r in from_kernel_with_parent(doc, cell) if r["msg_type"] == "stream")
    assert f"after the sleep: {lesson.DRAGGED_TO}\n" in printed  # the cell never saw the new value
    assert doc["value_after_busy"] == str(lesson.DRAGGED_WHILE_BUSY)
    assert doc["busy_order"]["update"] == update["seq"]


def test_a_reloaded_page_asks_the_control_comm_for_every_state(doc):
    recs = records(doc, "states")
    opened = one(recs, msg_type="comm_open")
    assert opened["direction"] == "to_kernel" and opened["content"]["target_name"] == "jupyter.widget.control"
    assert not [r for r in records(doc) if r["direction"] == "from_kernel" and r["msg_type"] == "comm_open"
                and r["content"]["target_name"] == "jupyter.widget.control"]
    ask = one(recs, msg_type="comm_msg", direction="to_kernel")
    states = one(from_kernel_with_parent(doc, ask), msg_type="comm_msg")["content"]["data"]
    assert states["method"] == "update_states"
    widget_ids = {w["comm_id"] for w in doc["widgets"]}
    assert set(states["states"]) == widget_ids
    slider = next(s for s in states["states"].values() if s["model_name"] == "IntSliderModel")
    assert slider["state"]["value"] == lesson.DRAGGED_WHILE_BUSY


# --- nothing left behind, --save -------------------------------------------------------


def test_the_kernel_is_gone(doc):
    kernel = doc["capture"]["kernel"]
    assert kernel["pid"] and not os.path.exists(f"/proc/{kernel['pid']}")
    assert not os.path.exists(kernel["connection_file"])


def test_save_is_readable_by_frames_load(result, tmp_path):
    path = tmp_path / "comms.json"
    lesson.save(result, path)
    loaded = trace.load(path)
    assert len(loaded.messages) == len(result.capture.messages)
    assert [a.name for a in loaded.acts] == [a.name for a in result.capture.acts]
    shown = subprocess.run([sys.executable, "-m", "kij", "frames", "--load", str(path)],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "100"})
    assert shown.returncode == 0, shown.stderr
    assert "comm_open" in shown.stdout
    assert all(a.title in shown.stdout for a in result.capture.acts)


# --- the view ---------------------------------------------------------------------------


def rendered(result, width: int) -> str:
    con = Console(record=True, width=width, color_system=None)
    con.print(view.render(result))
    return con.export_text()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_view_at_width(result, width):
    text = rendered(result, width)
    lines = text.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines)
    flat = " ".join(text.split())
    for number, a in enumerate(result.capture.acts, 1):
        assert f"{number} · {a.title}" in text  # step titles are never cut
        assert " ".join(a.outcome.split()) in flat  # outcomes wrap at spaces, whole
    assert " ".join(result.capture.takeaway.split()) in flat
    assert "update" in text and "echo_update" in text and "IntSliderModel" in text
    assert "✗" not in text


def test_comm_gists_come_from_parts_summary(result):
    """The timeline says what a comm message carries (kij.views.parts.summary, the one home)."""
    text = rendered(result, 120)
    assert "IntSliderModel · jupyter.widget · comm " in text
    assert 'update {"value": 7}' in text and 'echo_update {"value": 7}' in text
    assert "update_states · 3 models" in text
    assert f"target '{result.target}'" in text


def test_the_tours_compact_page_has_every_step_and_no_frames(result):
    con = Console(record=True, width=80, color_system=None)
    con.print(view.render_compact(result))
    text = con.export_text()
    assert all(f"{n} · {a.title}" in text for n, a in enumerate(result.capture.acts, 1))
    assert "signature ✓" not in text and "signature ✓" in rendered(result, 80)


def test_a_bare_capture_draws(result):
    """What a failed run shows (kij.app's shown_if_it_fails passes the capture alone)."""
    con = Console(record=True, width=80, color_system=None)
    con.print(view.render(result.capture))
    assert "1 · " + result.capture.acts[0].title in con.export_text()


# --- kij's one send-and-wait, for messages that get no reply ------------------------------


def test_answers_waits_for_a_comm_and_counts_what_already_arrived():
    """A comm message gets no reply: its status idle alone ends the wait. Sent before a
    cell kij then waits on, its busy/idle arrive during that wait — Sniffer.answers
    still finds them (await_reply alone would poll past them and time out)."""
    from kij.kernel import started
    from kij.lessons.frames import execute_content
    from kij.sniffer import Sniffer

    with started(["python3"]) as (kernel,), Sniffer(kernel.connection_info) as sn:
        sn.wait_for_iopub()
        comm = sn.request("shell", "comm_close", {"comm_id": "no-such-comm", "data": {}})
        _, cell = sn.exchange("shell", "execute_request", execute_content("1 + 1"), 10)
        assert cell.reply is not None and cell.idle
        seq = sn.capture.index
        def idle_of(msg_id):
            return next(c for c in sn.capture if c.parent_id == msg_id and c.content.get("execution_state") == "idle")

        # it arrived during the cell's wait: iopub keeps the kernel's order, so it is in
        # the capture before the cell's idle (shell and iopub are read in either order)
        comm_idle = idle_of(comm.msg_id)
        assert seq(comm_idle) < seq(idle_of(cell.request_id))
        exchange = sn.answer(comm, 2.0)
    assert exchange.reply_type is None and exchange.reply is None
    assert exchange.missing() == "nothing"
    assert [m.content["execution_state"] for m in exchange.messages if m.msg_type == "status"] == ["busy", "idle"]
    assert not [m for m in exchange.messages if m.channel == "shell"]


def test_missing_says_no_status_idle_for_a_message_without_reply():
    from kij.kernel import await_reply

    exchange = await_reply(lambda ms: [], "nobody", None, 0.05)
    assert exchange.missing() == "no status idle"


def test_cli_json():
    out = subprocess.run([sys.executable, "-m", "kij", "comms", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["capture"]["format"] == "kij-frames/1"



# --- a kernel that dies mid-lesson -------------------------------------------------------


def test_a_kernel_killed_mid_lesson_is_reported_and_cleaned_up(monkeypatch):
    """The kernel is killed just before the busy step: kij says it died (KernelDied,
    with the steps so far) instead of waiting, and leaves no process or file behind."""
    import signal

    from kij.errors import KernelDied

    seen = {}
    real_busy = lesson.busy

    def kill_then_busy(les, result, comm_id, timeout):
        seen["pid"], seen["file"] = les.kernel.pid, les.kernel.connection_file
        os.kill(les.kernel.pid, signal.SIGKILL)
        return real_busy(les, result, comm_id, timeout)

    monkeypatch.setattr(lesson, "busy", kill_then_busy)
    with pytest.raises(KernelDied, match="died"):
        lesson.run(timeout=30)
    assert seen["pid"] and not os.path.exists(f"/proc/{seen['pid']}")
    assert not os.path.exists(seen["file"])


def test_an_unwritable_save_is_refused_before_anything_boots(tmp_path):
    from kij.errors import UserError

    with pytest.raises(UserError):
        lesson.check_flags(save=str(tmp_path / "no-such-dir" / "comms.jsonl"))
    lesson.check_flags(save=str(tmp_path / "comms.jsonl"))  # a writable one passes
