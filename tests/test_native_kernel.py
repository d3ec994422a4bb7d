"""The native kernel's behaviour beyond conformance: interrupts, stdin, silence, shutdown, restart.

Real kernels through plain jupyter_client; every wait is on a message, a status or
the process itself, with a timeout — never a sleep.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager

import pytest
from jupyter_client.manager import start_new_kernel

from conftest import lost_a_port_race, reply_and_iopub, wait_until

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
    return reply_and_iopub(kc, kc.execute(code, **options), TIMEOUT)


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
        _, outputs = reply_and_iopub(kc, msg_id, TIMEOUT)
        assert [m["content"]["data"]["text/plain"] for m in outputs if m["msg_type"] == "execute_result"] == ["'ADA'"]


def test_input_without_stdin_is_an_error_not_a_hang():
    with native_kernel() as (km, kc):
        reply, _ = run(kc, "input()", allow_stdin=False)
        assert reply["content"]["status"] == "error"


def test_silent_execution_announces_nothing_but_still_shows_output_and_errors():
    """As ipykernel: no execute_input, no execute_result; printed text and the error still go out."""
    with native_kernel() as (km, kc):
        reply, outputs = run(kc, "print('shown')\n1/0", silent=True)
        assert reply["content"]["status"] == "error"
        assert [m["msg_type"] for m in outputs] == ["status", "stream", "error"]  # busy; idle ended it
        _, outputs = run(kc, "41 + 1", silent=True)
        assert [m["msg_type"] for m in outputs] == ["status"]


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


def test_twenty_thousand_prints_all_arrive_in_few_messages_then_idle():
    """Stream output is batched (as ipykernel's OutStream does) and iopub never drops a message."""
    with native_kernel() as (km, kc):
        reply, outputs = run(kc, "for i in range(20000):\n    print(i)")
        assert reply["content"]["status"] == "ok"  # run() returned: status: idle arrived
        streams = [m["content"]["text"] for m in outputs if m["msg_type"] == "stream"]
        assert "".join(streams) == "".join(f"{i}\n" for i in range(20000))
        assert len(streams) < 200, f"{len(streams)} stream messages: output is not batched"


def test_a_partial_line_shows_while_the_cell_still_runs():
    """A progress bar writes no newline: the interval flush must still send it mid-cell."""
    with native_kernel() as (km, kc):
        msg_id = kc.execute("import sys, time\nsys.stdout.write('50%')\ntime.sleep(60)")
        wait_for_stream(kc, "50%")  # arrived while the cell sleeps
        km.interrupt_kernel()
        assert kc.get_shell_msg(timeout=TIMEOUT)["parent_header"]["msg_id"] == msg_id


def test_queued_executes_are_aborted_after_an_error_and_later_ones_run():
    with native_kernel() as (km, kc):
        first = kc.execute("input('go? ')\n1/0", allow_stdin=True)
        kc.get_stdin_msg(timeout=TIMEOUT)
        queued = kc.execute("ran = True")
        kc.input("go")
        replies = [kc.get_shell_msg(timeout=TIMEOUT) for _ in range(2)]
        assert [r["parent_header"]["msg_id"] for r in replies] == [first, queued]
        assert [r["content"]["status"] for r in replies] == ["error", "aborted"]
        reply, _ = run(kc, "'ran' in dir()")
        assert reply["content"]["status"] == "ok"
        assert value_of(kc, "'ran' in dir()") == "False"


def test_an_interrupt_traceback_shows_the_cell_not_the_kernel():
    with native_kernel() as (km, kc):
        msg_id = kc.execute("import time\nprint('started')\ntime.sleep(60)")
        wait_for_stream(kc, "started")
        km.interrupt_kernel()
        _, outputs = reply_and_iopub(kc, msg_id, TIMEOUT)
        error = next(m["content"] for m in outputs if m["msg_type"] == "error")
        text = "\n".join(error["traceback"])
        assert "time.sleep(60)" in text
        assert "on_sigint" not in text and "native.py" not in text, text


def test_exit_asks_the_frontend_to_end_the_session_and_the_kernel_ends():
    km, kc = start_new_kernel(kernel_name="kij-native")
    try:
        reply, _ = run(kc, "exit")
        assert reply["content"]["payload"] == [{"source": "ask_exit", "keepkernel": False}]
        assert km.provisioner.process.wait(timeout=TIMEOUT) == 0
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_kernel_exits_when_its_parent_is_killed(tmp_path):
    """jupyter_client sets JPY_PARENT_PID; a kernel whose frontend died must not live on."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_SCRIPT], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        kernel_pid = int(parent.stdout.readline())
    finally:
        parent.kill()  # SIGKILL: the parent gets no chance to shut its kernel down
        parent.wait(timeout=TIMEOUT)
        parent.stdout.close()
    try:
        wait_until(lambda: not alive(kernel_pid), timeout=TIMEOUT, what="the orphaned kernel to exit")
    finally:
        if alive(kernel_pid):
            os.kill(kernel_pid, signal.SIGKILL)
        for leftover in pathlib.Path(os.environ["JUPYTER_RUNTIME_DIR"]).glob("kernel-*.json"):
            leftover.unlink()  # the killed parent could not remove its connection file


PARENT_SCRIPT = """
import sys, threading
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="kij-native")
print(km.provisioner.process.pid, flush=True)
threading.Event().wait()
"""


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in open(f"/proc/{pid}/status").read()
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("kernel_name", ["kij-native", "kij-tap"])
def test_jupyter_run_passes_extra_arguments_and_the_kernel_tolerates_them(tmp_path, kernel_name):
    script = tmp_path / "hello.py"
    script.write_text("print('from jupyter run', 6 * 7)\n")
    jupyter = pathlib.Path(sys.executable).with_name("jupyter")
    for _ in range(2):  # once more only if a port was lost to jupyter_client's race (conftest)
        done = subprocess.run([str(jupyter), "run", "--kernel", kernel_name, str(script)],
                              capture_output=True, text=True, timeout=60)
        if done.returncode == 0 or not lost_a_port_race(done.stderr):
            break
    assert done.returncode == 0, done.stderr
    assert "from jupyter run 42" in done.stdout
    shutil.rmtree(pathlib.Path(os.environ["JUPYTER_RUNTIME_DIR"]) / "kij-tap", ignore_errors=True)  # its trace, by design


def test_a_shell_request_sent_before_anyone_subscribed_waits_for_the_first_subscription():
    """jupyter console sends its first cell the moment kernel_info is answered, then waits
    for that cell's status: idle on iopub. A SUB socket's subscription reaches the kernel
    a moment after it connects; what iopub sent before was dropped for it, and console
    waited forever (1 run in 12 here). The native kernel's iopub is an XPUB: it hears the
    subscription, and its first shell request waits for one (control does not)."""
    import zmq
    from jupyter_client.manager import KernelManager
    from jupyter_client.session import Session

    km = KernelManager(kernel_name="kij-native")
    km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = zmq.Context()
    try:
        info = km.get_connection_info()
        session = Session(key=info["key"], signature_scheme=info["signature_scheme"])

        def socket(kind, channel):
            s = context.socket(kind)
            s.linger = 0
            s.connect(f"tcp://{info['ip']}:{info[f'{channel}_port']}")
            return s

        control, shell = socket(zmq.DEALER, "control"), socket(zmq.DEALER, "shell")
        session.send(control, "kernel_info_request", {})
        assert control.poll(60_000), "no kernel_info_reply on control"  # the kernel is up and serving
        request = session.send(shell, "kernel_info_request", {})
        assert not shell.poll(500), "the kernel answered on shell before anyone subscribed to iopub"

        iopub = socket(zmq.SUB, "iopub")
        iopub.subscribe(b"")
        assert shell.poll(TIMEOUT * 1000), "no kernel_info_reply once a subscriber came"
        states = []
        while "idle" not in states and iopub.poll(TIMEOUT * 1000):
            msg = session.deserialize(session.feed_identities(iopub.recv_multipart())[1])
            if msg["parent_header"].get("msg_id") == request["header"]["msg_id"] and msg["msg_type"] == "status":
                states.append(msg["content"]["execution_state"])
        assert states == ["busy", "idle"]  # the subscriber that came late saw the whole request
    finally:
        context.destroy(linger=0)
        km.shutdown_kernel(now=True)
