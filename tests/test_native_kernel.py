"""The native kernel's behaviour beyond conformance: interrupts, stdin, silence, shutdown, restart.

Real kernels through plain jupyter_client; every wait is on a message, a status or
the process itself, with a timeout — never a sleep.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager

import pytest
from jupyter_client.manager import start_new_kernel

TIMEOUT = 10


@pytest.fixture(autouse=True)
def private_runtime_dir(tmp_path, monkeypatch):
    runtime = tmp_path / "runtime"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    yield
    assert not runtime.exists() or list(runtime.iterdir()) == [], "connection file left behind"


@contextmanager
def native_kernel():
    km, kc = start_new_kernel(kernel_name="kij-native")
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def run(kc, code: str, **options) -> tuple[dict, list[dict]]:
    """Execute; return the reply and every iopub message up to status: idle."""
    msg_id = kc.execute(code, **options)
    outputs = collect_until_idle(kc, msg_id)
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg_id
    return reply, outputs


def collect_until_idle(kc, msg_id: str) -> list[dict]:
    outputs = []
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return outputs
        outputs.append(msg)


def wait_for_stream(kc, text: str) -> None:
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["msg_type"] == "stream" and text in msg["content"]["text"]:
            return


def value_of(kc, expression: str) -> str:
    _, outputs = run(kc, expression)
    return next(m["content"]["data"]["text/plain"] for m in outputs if m["msg_type"] == "execute_result")


@pytest.mark.parametrize("how", ["signal", "message"])
def test_interrupt_raises_keyboard_interrupt_and_the_kernel_lives_on(how):
    with native_kernel() as (km, kc):
        run(kc, "x = 41")
        msg_id = kc.execute("import time\nprint('started')\ntime.sleep(60)")
        wait_for_stream(kc, "started")  # the sleep is running now
        if how == "signal":
            km.interrupt_kernel()  # kernelspec interrupt_mode "signal": SIGINT to the process group
        else:
            kc.control_channel.send(kc.session.msg("interrupt_request", {}))
            assert kc.get_control_msg(timeout=TIMEOUT)["content"]["status"] == "ok"
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert value_of(kc, "x + 1") == "42"  # same process, same namespace


def test_only_the_main_thread_can_take_sigint():
    """Linux hands a process-wide signal to any thread not blocking it; only the main
    thread runs user code, so every other thread (ours and libzmq's) must block SIGINT."""
    with native_kernel() as (km, kc):
        run(kc, "1")  # fully up: the heartbeat and control threads are running
        pid = km.provisioner.process.pid
        masks = {}
        for task in os.listdir(f"/proc/{pid}/task"):
            status = open(f"/proc/{pid}/task/{task}/status").read()
            blocked = int(next(l for l in status.splitlines() if l.startswith("SigBlk:")).split()[1], 16)
            masks[int(task)] = bool(blocked & (1 << (signal.SIGINT - 1)))
        assert masks.pop(pid) is False, "the main thread must hear SIGINT"
        assert len(masks) >= 2 and all(masks.values()), masks


def test_sigint_while_idle_is_ignored():
    with native_kernel() as (km, kc):
        run(kc, "y = 1")
        km.interrupt_kernel()
        assert value_of(kc, "y") == "1"


def test_input_goes_over_the_stdin_channel():
    with native_kernel() as (km, kc):
        msg_id = kc.execute("name = input('name? ')\nname.upper()", allow_stdin=True)
        request = kc.get_stdin_msg(timeout=TIMEOUT)
        assert request["msg_type"] == "input_request"
        assert request["content"]["prompt"] == "name? "
        kc.input("ada")
        outputs = collect_until_idle(kc, msg_id)
        assert [m["content"]["data"]["text/plain"] for m in outputs if m["msg_type"] == "execute_result"] == ["'ADA'"]


def test_input_without_stdin_is_an_error_not_a_hang():
    with native_kernel() as (km, kc):
        reply, _ = run(kc, "input()", allow_stdin=False)
        assert reply["content"]["status"] == "error"


def test_silent_execution_publishes_only_status():
    with native_kernel() as (km, kc):
        reply, outputs = run(kc, "print('hidden')\n1/0", silent=True)
        assert reply["content"]["status"] == "error"
        assert [m["msg_type"] for m in outputs] == ["status"]  # busy; idle ended the collection


def test_execution_count_counts_only_stored_history():
    with native_kernel() as (km, kc):
        first, _ = run(kc, "1")
        unstored, _ = run(kc, "2", store_history=False)
        second, _ = run(kc, "3")
        assert (first["content"]["execution_count"], second["content"]["execution_count"]) == (1, 2)
        assert unstored["content"]["execution_count"] == 1


def test_user_expressions_are_evaluated_after_the_code():
    with native_kernel() as (km, kc):
        reply, _ = run(kc, "z = 7", user_expressions={"double": "z * 2", "bad": "nope"})
        expressions = reply["content"]["user_expressions"]
        assert expressions["double"]["data"]["text/plain"] == "14"
        assert expressions["bad"]["status"] == "error" and expressions["bad"]["ename"] == "NameError"


def test_shutdown_request_ends_the_process_cleanly():
    km, kc = start_new_kernel(kernel_name="kij-native")
    try:
        pid = int(value_of(kc, "import os; os.getpid()"))
        kc.control_channel.send(kc.session.msg("shutdown_request", {"restart": False}))
        reply = kc.get_control_msg(timeout=TIMEOUT)
        assert reply["content"] == {"status": "ok", "restart": False}
        assert km.provisioner.process.wait(timeout=TIMEOUT) == 0  # exited by itself, exit code 0
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        km.cleanup_resources()


def test_restart_gives_a_fresh_process_and_namespace():
    with native_kernel() as (km, kc):
        old_pid = value_of(kc, "import os; secret = 1; os.getpid()")
        km.restart_kernel()
        kc.wait_for_ready(timeout=TIMEOUT)
        assert value_of(kc, "import os; os.getpid()") != old_pid
        reply, outputs = run(kc, "secret")
        assert reply["content"]["ename"] == "NameError"
        with pytest.raises(ProcessLookupError):
            os.kill(int(old_pid), 0)
