"""The lifecycle's promises: nothing survives a command, whatever ends it."""

import json
import signal
import subprocess
import sys

import zmq

from conftest import no_traceback, wait_until


def test_kernelspecs_installed_in_the_environment():
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_client.kernelspecapp", "list", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    specs = json.loads(out)["kernelspecs"]
    assert {"python3", "bash"} <= set(specs)
    assert specs["bash"]["resource_dir"].startswith(sys.prefix)


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
