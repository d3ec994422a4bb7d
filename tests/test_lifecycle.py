"""The lifecycle's promises: nothing survives a command, whatever ends it."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import psutil
import pytest
import zmq

from conftest import no_traceback, wait_until
from kij.errors import Terminated
from kij.tap import Stop


def test_kernelspecs_installed_in_the_environment():
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_client.kernelspecapp", "list", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    specs = json.loads(out)["kernelspecs"]
    assert {"python3", "bash"} <= set(specs)
    assert specs["bash"]["resource_dir"].startswith(sys.prefix)


@pytest.mark.parametrize("exc_class", [Terminated, Stop], ids=["kij's Terminated", "the tap's Stop"])
def test_a_sigterm_raised_inside_an_asyncio_callback_gets_out(exc_class):
    """jupyter_client runs its calls on an asyncio loop, so a SIGTERM often lands in
    one of its callbacks. asyncio swallows most exceptions there (logs them, runs on);
    if the one swallowed was the callback that stops the loop, the loop waits forever —
    kij hung that way once after a SIGTERM. What the handlers raise must get out."""

    def handler(signum, frame):
        raise exc_class()

    async def a_call():  # like a jupyter_client call: a callback runs, the loop goes on
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return "finished as if no signal came"

    saved = signal.signal(signal.SIGTERM, handler)
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(exc_class):
            loop.run_until_complete(a_call())
    finally:
        signal.signal(signal.SIGTERM, saved)
        loop.close()


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, "KeyboardInterrupt"), (signal.SIGTERM, "Terminated")])
def test_a_signal_that_lands_in_a_weakref_callback_is_not_lost(signum, raised):
    """The garbage collector runs weakref callbacks anywhere; a Ctrl-C raised inside one
    is only printed by Python ("Exception ignored in …") and lost. kij sends it again,
    so it is raised in kij's own code."""
    code = f"""
        import gc, signal, weakref
        from kij import kernel
        from kij.errors import Terminated
        kernel.raise_on_sigterm()

        class Thing:
            pass

        def callback(ref):
            signal.raise_signal({int(signum)})
            for _ in range(1000):  # the handler runs here, inside the callback
                pass

        thing = Thing()
        ref = weakref.ref(thing, callback)
        try:
            del thing
            gc.collect()
            for _ in range(100000):
                pass
            print("lost")
        except (KeyboardInterrupt, Terminated) as exc:
            print("raised", type(exc).__name__)
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.stdout.split() == ["raised", raised], proc.stdout + proc.stderr
    assert "Exception ignored" not in proc.stderr, proc.stderr


def test_sigint_while_booting(kij):
    proc = kij.popen("swap")
    wait_until(kij.connection_files, what="a kernel to be launched")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert no_traceback(err) and "interrupted" in err
    kij.assert_clean()


def test_sigterm_while_booting(kij):
    proc = kij.popen("state")
    wait_until(kij.connection_files, what="a kernel to be launched")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert no_traceback(err)
    kij.assert_clean()


def watch_for_execution(connection_file):
    """Subscribe to the kernel's iopub with our own socket; return when a cell runs."""
    info = json.loads(connection_file.read_text())
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(f"{info['transport']}://{info['ip']}:{info['iopub_port']}")
    try:
        while sub.poll(60_000):
            frames = sub.recv_multipart()
            if b'"execute_input"' in b"".join(frames):
                return True
        return False
    finally:
        sub.close()


def test_sigint_while_executing(kij):
    proc = kij.popen("state")
    (conn,) = wait_until(kij.connection_files, what="a kernel to be launched")
    wait_until(lambda: conn.stat().st_size > 0, what="the connection file to be written")
    assert watch_for_execution(conn)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert no_traceback(err)
    kij.assert_clean()


def test_a_kernel_that_loses_the_port_race_is_relaunched_on_new_ports(tmp_path, monkeypatch):
    """Take the kernel's shell port before it can bind it (as a busy machine might):
    the kernel dies with 'Address already in use', and kij starts it again on fresh
    ports instead of reporting a fault."""
    import socket

    from kij import kernel

    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    with kernel.started(["python3"], wait=False) as (k,):
        taken = json.loads(open(k.connection_file).read())["shell_port"]
        squatter = socket.socket()
        try:
            squatter.bind(("127.0.0.1", taken))
            squatter.listen()
        except OSError:  # the kernel bound it first: nothing to prove this time
            squatter.close()
            pytest.skip("the kernel bound its port before the test could take it")
        try:
            kernel.ready([k])
            assert kernel.PORT_TAKEN in k.log()
            assert json.loads(open(k.connection_file).read())["shell_port"] != taken
            assert k.execute("6 * 7").result == "42"
        finally:
            squatter.close()
        pid = k.pid
    assert list(tmp_path.glob("kernel-*.json")) == []
    assert not os.path.exists(f"/proc/{pid}") or "State:\tZ" in open(f"/proc/{pid}/status").read()


def test_a_cell_that_outlives_its_timeout_on_an_attached_kernel_is_left_running(tmp_path):
    """kij.kernel never interrupts a kernel it only attached to: the cell may be
    someone else's. The timeout is reported; the cell runs to its end."""
    from jupyter_client.manager import KernelManager

    from kij import kernel
    from kij.errors import KernelTimeout

    km = KernelManager(kernel_name="python3", connection_file=str(tmp_path / "kernel-theirs.json"))
    km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        theirs = km.client()
        theirs.wait_for_ready(timeout=60)  # a user's kernel: up before kij attaches
        theirs.stop_channels()
        with kernel.attached(km.connection_file, timeout=60) as k:
            assert not k.owned
            with pytest.raises(KernelTimeout, match="did not interrupt"):
                k.execute("import time; time.sleep(3); slept = True", timeout=0.5)
            with pytest.raises(Exception, match="never interrupts"):
                k.interrupt()
            assert k.execute("slept", timeout=30).result == "True"  # queued behind it; no KeyboardInterrupt
        assert km.is_alive()
    finally:
        km.shutdown_kernel(now=True)


def test_started_inside_a_pool_takes_each_kernel_once_and_the_pool_shuts_them_down(tmp_path, monkeypatch):
    """kij tour's pool: `started` takes launched-ahead kernels by name *and* environment,
    each one once; what the pool cannot give is started fresh (and shut down by its own
    block); the pool's kernels are shut down when the pool closes, not before."""
    from kij import kernel

    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    decoy = dict(os.environ, KIJ_POOL_TEST="decoy")
    with kernel.pool([("python3", None), ("python3", decoy)]) as ahead:
        with kernel.started(["python3", "python3"], envs=[decoy, None]) as (a, b):
            assert (a, b) == (ahead[1], ahead[0])
            assert a.execute("__import__('os').environ.get('KIJ_POOL_TEST')").result == "'decoy'"
        assert all(k.manager.is_alive() for k in ahead)  # the pool's to shut down, not the block's
        with kernel.started(["python3"]) as (fresh,):  # both taken already: a new one
            assert fresh not in ahead
            assert fresh.execute("6 * 7").result == "42"
        assert not fresh.manager.is_alive()
    assert not any(k.manager.is_alive() for k in ahead)
    assert list(tmp_path.glob("kernel-*.json")) == []


def test_no_lesson_takes_a_kernel_pool_parameter():
    """A lesson gets its kernels with `started`, as when run alone; kij tour's pool is
    found by `started`, never handed in."""
    import inspect

    from kij.lessons import frames, magics, repl_diff, state, swap, which

    for lesson in (repl_diff, state, frames, magics, swap, which):
        params = inspect.signature(lesson.run).parameters
        assert "kernels" not in params and "decoy" not in params, lesson.__name__


def test_an_exchange_says_what_never_came():
    """await_reply's timeout message, the one every caller quotes."""
    from kij.kernel import Exchange

    waited = Exchange(request_id="r", reply_type="execute_reply")
    assert waited.missing() == "neither the execute_reply nor the status idle"
    waited.reply = object()
    assert waited.missing() == "the execute_reply but not the status idle"
    assert Exchange(request_id="r", reply_type="kernel_info_reply").missing(need_idle=False) == "no kernel_info_reply"


@pytest.mark.parametrize("stopped", ["before its thread began", "as its thread began"])
def test_a_heartbeat_stopped_early_stays_stopped(stopped, monkeypatch):
    """jupyter_client's heartbeat thread sets itself running only after making its
    socket, undoing a stop() that came first; it then opened a socket per turn until
    the process ran out of file descriptors (the fault suite's "Ctrl-C while booting"
    once failed so). kij's client's heartbeat ends and its socket is closed."""
    from kij.client import Client

    died = []
    monkeypatch.setattr("threading.excepthook", lambda args: died.append(args.exc_value))
    with zmq.Context() as context:
        port = zmq.Socket(context, zmq.REP).bind_to_random_port("tcp://127.0.0.1")  # nobody answers
        channel = Client(context=context).hb_channel_class(context=context, session=None,
                                                           address=("127.0.0.1", port))
        if stopped == "before its thread began":
            channel._running = False
            channel._exit.set()
            channel.start()
        else:
            channel.start()
            channel._running = False
            channel._exit.set()
        channel.join(timeout=10)
        assert not channel.is_alive(), "the heartbeat thread is still running after stop"
        assert died == [], f"the heartbeat thread died: {died}"
        channel.close()
        assert channel.socket is None
        context.destroy(linger=0)


def test_a_process_a_cell_started_in_a_session_of_its_own_goes_with_the_kernel(kij):
    """ipykernel ends its children when it shuts down, but not one that left its process
    group (start_new_session, a daemon). kij ends what its kernels started: nothing of
    the run survives it (KijRunner.run checks, with the run's marker in the environment)."""
    cell = "import subprocess; subprocess.Popen(['sleep', '300'], start_new_session=True)"
    run = kij.run("frames", "--json", "--code", cell)
    assert run.returncode == 0, run.stderr


def test_what_a_marked_process_forks_is_found_and_stopped_even_once_orphaned():
    """kij.processes.marked / carrying / stop: what kij starts inherits a mark in its
    environment, and so does what that forks. A process that forked and exited leaves an
    orphan no process tree leads to; the mark still finds it, and stop ends it."""
    from kij import processes

    value = uuid.uuid4().hex
    forker = "import os, time\nif os.fork() == 0:\n    time.sleep(120)\nelse:\n    print(os.getpid(), flush=True)"
    with processes.marked("KIJ_TEST_MARK", value):
        proc = subprocess.Popen([sys.executable, "-c", forker], stdout=subprocess.PIPE, text=True)
    assert "KIJ_TEST_MARK" not in os.environ  # kij's own environment is as before
    parent = int(proc.stdout.readline())
    proc.wait(timeout=30)
    try:
        found = processes.carrying("KIJ_TEST_MARK", value)
        assert len(found) == 1 and found[0].pid != parent  # the orphan, and only it
    finally:
        processes.stop(processes.carrying("KIJ_TEST_MARK", value), wait=5)
    assert processes.carrying("KIJ_TEST_MARK", value) == []


def test_a_process_that_ended_but_is_nobodys_to_reap_counts_as_ended():
    """A kernel's child, orphaned, is reaped by whoever adopts it — here the container's
    first process, which does not. Its exit leaves a zombie; kij.processes.reap counts
    that as ended instead of waiting out its whole timeout for it (2 s per bash kernel
    before). The zombie here is the child of a parent that never reaps it."""
    from kij import processes

    parent = subprocess.Popen([sys.executable, "-c", "import os, sys, time\npid = os.fork()\nif pid == 0:\n"
                               "    os._exit(0)\nprint(pid, flush=True)\nsys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        wait_until(lambda: psutil.Process(child).status() == psutil.STATUS_ZOMBIE, timeout=30,
                   what="the child to exit")
        started = time.monotonic()
        processes.reap([child], wait=30)
        assert time.monotonic() - started < 30  # returned before its deadline: the zombie had ended
    finally:
        parent.stdin.close()
        parent.wait(timeout=30)
