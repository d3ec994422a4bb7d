"""Fault injection and bad input, for every command: nothing left behind, every
failure explained.

Each case runs kij as a real subprocess in a sandbox of its own, does something
unkind to it at an observed moment (see faultlib), then asserts the exit code
(0 ok, 1 kernel fault, 2 user error, 130 Ctrl-C, 143 SIGTERM), a message on stderr,
no Python traceback anywhere, and no kernel process or connection file left.
Every outcome is also recorded; `python tests/faults/table.py` turns a run of this
file into docs/faults.md.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import socket
import subprocess
import tempfile

import pytest

import faultlib
from conftest import ANSI
from faultlib import BY_NAME, COMMANDS, WITH_KERNEL_FLAG, Iopub, check, judge


@pytest.fixture(scope="session", autouse=True)
def faults_table():
    """With KIJ_FAULTS_TABLE=path set, write the table of outcomes there at the end."""
    yield
    path = os.environ.get("KIJ_FAULTS_TABLE")
    if path:
        faultlib.write_table(path)


def launch(kij, *args: str, env: dict | None = None) -> tuple[subprocess.Popen, object, object]:
    """Start kij with stdout and stderr going to files: a run we are not reading yet
    (the tour prints a lot) can never block on a full pipe."""
    out, err = tempfile.TemporaryFile(mode="w+"), tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(kij.command(*args), env={**kij.env, **(env or {})}, text=True,
                            stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    return proc, out, err


def collect(proc, out, err, timeout: float = 120) -> tuple[int, str, str]:
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out.seek(0)
    err.seek(0)
    return proc.returncode, out.read(), err.read()


def run_case(kij, command: str, case: str, expected: int, says: str | None, args: list[str],
             env: dict | None = None) -> tuple[str, str]:
    """Run to the end (no signal), judge, check. Returns (stdout, stderr)."""
    code, stdout, stderr = collect(*launch(kij, *args, env=env))
    check(judge(kij, command, case, expected, returncode=code, stdout=stdout, stderr=stderr),
          says, stderr)
    return stdout, stderr


# --- signals at observed moments ----------------------------------------------------

SIGNALS = [
    # (case, signal, moment, exit code, what stderr says)
    ("SIGINT while booting", signal.SIGINT, "booting", 130, "interrupted"),
    ("SIGINT while executing", signal.SIGINT, "executing", 130, "interrupted"),
    ("SIGINT while shutting down", signal.SIGINT, "shutting down", 130, "interrupted"),
    ("SIGTERM while executing", signal.SIGTERM, "executing", 143, "terminated"),
]


def reach(kij, moment: str) -> None:
    """Return once the run is at the moment (observed, never slept for)."""
    conn = faultlib.first_connection_file(kij)
    if moment == "booting":
        return
    iopub = Iopub(conn)
    try:
        iopub.wait_for(faultlib.is_execute_input if moment == "executing" else faultlib.is_shutting_down)
    finally:
        iopub.close()


# A slow command (the tour: a whole one is about a minute of both cores) gets Ctrl-C
# while its 13 kernels boot. Ctrl-C mid-tour, and a second Ctrl-C while those 13 shut
# down, are in tests/test_tour.py; SIGTERM and a signal during the final shutdown take
# the same paths as for every other command here.
SIGNAL_CASES = [
    pytest.param(command, *case, id=f"{command.title}: {case[0]}")
    for command in COMMANDS for case in SIGNALS
    if not command.slow or case[2] == "booting"
]
QUICK = [c for c in COMMANDS if not c.slow]


@pytest.mark.parametrize("command, case, signum, moment, expected, says", SIGNAL_CASES)
def test_signal(kij, command, case, signum, moment, expected, says):
    proc, out, err = launch(kij, command.name, *command.args)
    try:
        reach(kij, moment)
        proc.send_signal(signum)
    finally:
        code, stdout, stderr = collect(proc, out, err)
    check(judge(kij, command.title, case, expected, returncode=code, stdout=stdout, stderr=stderr),
          says, stderr)


@pytest.mark.parametrize("command", QUICK, ids=[c.title for c in QUICK])
def test_kernel_killed_mid_run(kij, command):
    """SIGKILL to the kernel while a cell runs: kij notices, says so, exits 1."""
    proc, out, err = launch(kij, command.name, *command.args)
    try:
        conn = faultlib.first_connection_file(kij)
        iopub = Iopub(conn)
        try:
            iopub.wait_for(faultlib.is_execute_input)
        finally:
            iopub.close()
        victim = faultlib.last_connection_file(kij, command.kernels) if command.kill_next else conn
        os.kill(faultlib.kernel_pid(victim), signal.SIGKILL)
    finally:
        code, stdout, stderr = collect(proc, out, err)
    check(judge(kij, command.title, "kernel SIGKILLed mid-run", 1, returncode=code, stdout=stdout,
                stderr=stderr), "died", stderr)


# --- cells that misbehave (commands that run the user's code) -----------------------

SLEEPER = "import time; time.sleep(600)"
DEAF = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: time.sleep(0.1)"
SUICIDE = "import os; os._exit(1)"

CELLS = [
    # (command, case, cell, extra args, exit code, what stderr says)
    ("frames", "cell never ends (--timeout 1)", SLEEPER, ["--timeout", "1"], 1, "longer than 1 s"),
    ("repl-diff", "cell never ends (--timeout 1)", SLEEPER, ["--timeout", "1"], 1, "longer than 1 s"),
    ("frames", "cell ignores the interrupt (--timeout 1)", DEAF, ["--timeout", "1"], 1, "longer than 1 s"),
    ("frames", "cell ends the kernel: os._exit(1)", SUICIDE, [], 1, "the python3 kernel died"),
    ("repl-diff", "cell ends the kernel: os._exit(1)", SUICIDE, [], 1, "the python3 kernel died"),
]


@pytest.mark.parametrize("command, case, cell, extra, expected, says", CELLS,
                         ids=[f"{c[0]}: {c[1]}" for c in CELLS])
def test_cell_fault(kij, command, case, cell, extra, expected, says):
    run_case(kij, command, case, expected, says, [command, "--code", cell, *extra])


# --- bad input ----------------------------------------------------------------------

NOT_UTF8 = os.fsdecode(b"print('caf\xe9')\xff")  # argv bytes that are not UTF-8


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def bad_files(tmp) -> dict[str, str]:
    """Files a user might hand kij by mistake. As root, chmod 000 does not stop a
    read, so unreadable means a directory or bytes that are not text."""
    files = {
        "missing": tmp / "missing.json",
        "directory": tmp / "a-dir.json",
        "binary": tmp / "binary.json",
        "malformed": tmp / "malformed.json",
        "missing keys": tmp / "no-ports.json",
        "stale": tmp / "stale.json",
        "empty file": tmp / "empty.py",
        "binary file": tmp / "binary.py",
        "not UTF-8 file": tmp / "latin1.py",
    }
    files["directory"].mkdir()
    files["binary"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    files["malformed"].write_text('{"shell_port": 1,')
    files["missing keys"].write_text(json.dumps({"ip": "127.0.0.1", "key": "k"}))
    shell, iopub, stdin, control, hb = free_ports(5)
    files["stale"].write_text(json.dumps({
        "ip": "127.0.0.1", "transport": "tcp", "key": "stale", "signature_scheme": "hmac-sha256",
        "shell_port": shell, "iopub_port": iopub, "stdin_port": stdin, "control_port": control,
        "hb_port": hb, "kernel_name": "python3",
    }))
    files["empty file"].write_text("")
    files["binary file"].write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    files["not UTF-8 file"].write_bytes("print('café')\n".encode("latin-1"))
    return {k: str(v) for k, v in files.items()}


BAD_INPUT = [
    # (command, case, args ({name} is a bad file), exit code, what stderr says)
    *[(c.name, "unknown kernel", ["--kernel", "nope"], 2, "no kernel named 'nope'") for c in WITH_KERNEL_FLAG],
    ("frames", "--existing: missing file", ["--existing", "{missing}"], 2, "no such connection file"),
    ("frames", "--existing: a directory", ["--existing", "{directory}"], 2, "cannot read"),
    ("frames", "--existing: binary bytes", ["--existing", "{binary}"], 2, "cannot read"),
    ("frames", "--existing: malformed JSON", ["--existing", "{malformed}"], 2, "not a connection file"),
    ("frames", "--existing: keys missing", ["--existing", "{missing keys}"], 2, "missing"),
    ("frames", "--existing: no kernel at its ports", ["--existing", "{stale}"], 1, "no kernel is answering"),
    ("frames", "--code empty", ["--code", ""], 2, "empty"),
    ("frames", "--code not UTF-8", ["--code", NOT_UTF8], 2, "UTF-8"),
    ("repl-diff", "--code empty", ["--code", "  \n"], 2, "empty"),
    ("repl-diff", "--code not UTF-8", ["--code", NOT_UTF8], 2, "UTF-8"),
    ("repl-diff", "--file missing", ["--file", "{missing}"], 2, "no such file"),
    ("repl-diff", "--file a directory", ["--file", "{directory}"], 2, "a directory"),
    ("repl-diff", "--file empty", ["--file", "{empty file}"], 2, "empty"),
    ("repl-diff", "--file binary", ["--file", "{binary file}"], 2, "binary"),
    ("repl-diff", "--file not UTF-8", ["--file", "{not UTF-8 file}"], 2, "not UTF-8"),
]


@pytest.mark.parametrize("command, case, args, expected, says", BAD_INPUT,
                         ids=[f"{b[0]}: {b[1]}" for b in BAD_INPUT])
def test_bad_input(kij, tmp_path, command, case, args, expected, says):
    files = bad_files(tmp_path)
    stdout, stderr = run_case(kij, command, case, expected, says,
                              [command, *[a.format(**files) if "{" in a else a for a in args]])
    assert len(stderr.strip().splitlines()) == 1, stderr  # one clear line


# --- what the kernel prints, and where kij prints it --------------------------------

RAW_BYTES = "import sys; sys.stdout.buffer.write(b'\\xff\\xfe ok\\n'); sys.stdout.flush()"


@pytest.mark.parametrize("command", ["frames", "repl-diff"])
def test_output_that_is_not_utf8(kij, command):
    """The cell writes bytes that are not UTF-8 (bare python3 prints them raw)."""
    stdout, _ = run_case(kij, command, "cell prints non-UTF-8 bytes", 0, None, [command, "--code", RAW_BYTES])
    assert " ok" in stdout


@pytest.mark.parametrize("command", QUICK, ids=[c.title for c in QUICK])
def test_narrow_terminal_output_to_a_file(kij, tmp_path, command):
    """COLUMNS=20 and stdout a regular file: nothing wider than 20 columns, no escape codes."""
    stdout, _ = run_case(kij, command.title, "COLUMNS=20, stdout to a file", 0, None,
                         [command.name, *command.args], env={"COLUMNS": "20"})
    assert stdout.strip()
    assert not faultlib.ESCAPE.search(stdout), "escape codes in a file"
    wide = [line for line in stdout.splitlines() if faultlib.cells(line) > 20]
    assert wide == [], wide


def test_no_color_narrow_terminal(kij):
    """NO_COLOR=1 on a real terminal (a pty) 20 columns wide: styles like bold may stay
    (NO_COLOR is about colour), colour codes may not, and no line is wider than the
    terminal — kij frames' spinner, socket table, frames and arrows, the most colourful
    view. (Every part of the tour, drawn 20 columns wide: tests/test_views.py.)"""
    master, slave = pty.openpty()
    proc = subprocess.Popen(kij.command("frames"), env={**kij.env, "NO_COLOR": "1", "COLUMNS": "20"},
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    shown = b"".join(chunks).decode(errors="replace")
    check(judge(kij, "frames", "NO_COLOR=1, COLUMNS=20 on a terminal", 0, returncode=proc.returncode,
                stdout=shown), None, shown)
    assert "\x1b[1m" in shown, "rich did not style at all: not a terminal?"
    assert faultlib.COLOUR.findall(shown) == []
    plain = ANSI.sub("", shown)
    assert "<IDS|MSG>" in plain
    wide = [line for line in re.split(r"[\r\n]+", plain) if faultlib.cells(line) > 20]
    assert wide == [], wide
