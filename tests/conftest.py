"""Shared test machinery: run kij as a real subprocess and prove it left nothing behind.

Each run gets its own Jupyter runtime directory (so its connection files are easy to
find) and a unique marker in its environment. Kernel processes — and their children,
like the bash under bash_kernel — inherit that environment, so after the command we
can scan /proc for any process still carrying the marker.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

MARK = "KIJ_TEST_MARK"


# --- one private Jupyter runtime directory per test process --------------------------
#
# `uv run pytest` runs the tests in several processes (pytest-xdist, `-n` in
# pyproject's addopts). Each process — each xdist worker, or the one process of a
# serial run — gets a runtime directory of its own before any test runs, so
# connection files, kij tap's traces (<runtime dir>/kij-tap) and a test's "nothing is
# left in the runtime directory" can never see another worker's. Tests that need a
# directory of their own still make one (KijRunner, the module fixtures). Kernels are
# never shared across processes: each module-scoped kernel lives in the one worker
# that runs its module (`--dist loadfile`).
#
# Each process also gets a HOME of its own. The bash kernel starts an interactive bash,
# which reads the machine's ~/.bashrc; one that runs `pyenv init` takes pyenv's rehash
# lock on every start, and a bash killed mid-start (the fault tests kill kernels while
# they boot) can leave that lock behind: every later bash then waits 60 s for it, on
# the whole machine. A private HOME keeps the tests off the machine's shell start-up
# files, and the kernels' IPython history and profiles off the user's ~/.ipython.

_PRIVATE_ENV = ("JUPYTER_RUNTIME_DIR", "PYTHONDONTWRITEBYTECODE", "HOME")

# How many test processes `uv run pytest` starts when not told (-n N): measured on the
# project's 2-core machine, where kernel tests mostly wait on I/O (docs/development.md).
WORKERS = 3


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config) -> None:
    """Run in parallel by default, one module per worker (--dist loadfile); an explicit
    -n (-n 0: serially), --dist, or `-p no:xdist` wins. Not in pyproject's addopts, so
    that `-p no:xdist` stays a valid way to run serially."""
    if not config.pluginmanager.hasplugin("xdist") or "PYTEST_XDIST_WORKER" in os.environ:
        return
    if config.option.numprocesses is not None or config.option.dist != "no" or config.option.collectonly:
        return
    # Given only some test files, no more workers than files (a module runs in one
    # worker; an idle one still costs its start-up); one file runs serially.
    files = {arg.split("::")[0] for arg in config.args}
    workers = min(WORKERS, len(files)) if files and all(f.endswith(".py") for f in files) else WORKERS
    if workers > 1:
        config.option.numprocesses = workers
        config.option.dist = "loadfile"
        config.option.loadscopereorder = False  # modules go out in LONGEST_FIRST order (below)


# The modules that take longest, longest first (summed test durations of a full run,
# 2 cores): sent to the workers before the rest, so the run does not end
# waiting on one long module that started last. pytest-xdist would otherwise order
# modules by their number of tests, and a few slow browser tests would go out last.
LONGEST_FIRST = ["faults/test_faults.py", "test_export.py", "test_tap.py", "test_notebook.py", "test_server.py",
                 "test_parallel.py", "test_frames.py", "test_tour.py", "test_check.py", "test_control.py",
                 "test_cli.py", "test_view_browser.py"]


def pytest_collection_modifyitems(config, items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def order(item) -> int:
        path = item.nodeid.split("::")[0].removeprefix("tests/")
        return rank.get(path, len(rank))

    items.sort(key=order)  # stable: within a module, and among the rest, the order stays


def pytest_configure(config) -> None:
    import shutil
    import tempfile

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    private = tempfile.mkdtemp(prefix=f"kij-tests-{worker}-")
    config._kij_private = (private, {name: os.environ.get(name) for name in _PRIVATE_ENV}, shutil.rmtree)
    os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(private, "runtime")
    os.mkdir(os.environ["JUPYTER_RUNTIME_DIR"])
    os.environ["HOME"] = os.path.join(private, "home")
    os.mkdir(os.environ["HOME"])
    # Where the machine sets PYTHONDONTWRITEBYTECODE, every JupyterLab, nbconvert and
    # jupyter console the tests start would compile its packages from source, each time.
    # The tests let Python write bytecode, as kij does for what it starts; the test of
    # kij under that variable sets it itself (test_cost).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def pytest_unconfigure(config) -> None:
    private, saved, rmtree = getattr(config, "_kij_private", (None, {}, None))
    if private is None:
        return
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    rmtree(private, ignore_errors=True)


def processes_with(marker: str) -> list[str]:
    """Command lines of live processes whose environment carries marker."""
    found = []
    needle = f"{MARK}={marker}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                status = (proc / "status").read_text()
                if "State:\tZ" not in status:  # a zombie already exited
                    found.append(f"{proc.name}: {cmd.strip()}")
        except OSError:
            continue
    return found


def wait_until(condition, timeout: float = 30.0, what: str = "condition"):
    """Poll an observable condition (a file appears, a process goes) with a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def reply_and_iopub(kc, msg_id: str, timeout: float = 30.0, channel: str = "shell",
                    until_idle: bool = True) -> tuple[dict, list[dict]]:
    """The tests' one wait for a request sent through a jupyter_client client (plain
    jupyter_client, so kij's own `await_reply` is not checked by itself): the reply to
    msg_id on `channel` and, with until_idle, every iopub message the request caused
    before its `status: idle` (the busy included). Each channel is read only as far as
    this request's last message, so what answers a request queued behind it stays
    there for the next wait. Fails the test, saying what never came, after `timeout` s."""
    deadline = time.monotonic() + timeout

    def next_for_request(ch, what: str) -> dict:
        while True:
            try:
                msg = ch.get_msg(timeout=max(0.001, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{what} for request {msg_id} did not come within {timeout:g} s") from None
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    outputs = []
    while until_idle:
        msg = next_for_request(kc.iopub_channel, "the status idle")
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        outputs.append(msg)
    return next_for_request(getattr(kc, f"{channel}_channel"), "the reply"), outputs


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


class KijRunner:
    """Runs `python -m kij …` in a sandbox of its own and checks the aftermath."""

    def __init__(self, tmp_path: Path):
        self.marker = uuid.uuid4().hex
        self.runtime = tmp_path / "runtime"
        self.runtime.mkdir()
        self.env = dict(os.environ)
        self.env.update({
            MARK: self.marker,
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "COLUMNS": "100",
            "PYTHONUNBUFFERED": "1",
        })

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "kij", *args]

    def popen(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(*args), env={**self.env, **(env or {})}, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )

    def run(self, *args: str, env: dict | None = None, timeout: float = 90) -> Run:
        proc = self.popen(*args, env=env)
        out, err = proc.communicate(timeout=timeout)
        self.assert_clean()
        return Run(proc.returncode, out, err)

    def script(self, path: Path, timeout: float = 120) -> Run:
        """Run a standalone script (a demo) in the same sandbox, then check the aftermath."""
        proc = subprocess.run(
            [sys.executable, str(path)], env=self.env, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, capture_output=True,
        )
        self.assert_clean()
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def connection_files(self) -> list[Path]:
        return sorted(self.runtime.glob("kernel-*.json"))

    def assert_clean(self) -> None:
        """No process from this run survives and no connection file is left."""
        # a kernel told to exit may need a moment to be reaped by the kernel itself
        try:
            wait_until(lambda: not processes_with(self.marker), timeout=5, what="processes to exit")
        except AssertionError:
            pass
        assert processes_with(self.marker) == []
        assert self.connection_files() == []


@pytest.fixture
def kij(tmp_path) -> KijRunner:
    return KijRunner(tmp_path)


def no_traceback(text: str) -> bool:
    return "Traceback" not in text


def lost_a_port_race(output: str) -> bool:
    """A plain jupyter_client launch (a demo, `jupyter run`, a tap kernel a test starts)
    whose kernel lost its ports. jupyter_client picks a free port, closes it and hands it
    to the kernel, which binds it only once its imports are done; under a parallel suite
    another process's socket can take it meanwhile. kij relaunches its own kernels on new
    ports (kij.kernel); these launches are not kij's, so a test of one runs it once more
    when its output says "Address already in use" — or, where the kernel's own output is
    not kept (the demos), that the kernel died before answering kernel_info, the loss's
    likeliest cause there and one a second run would show again if it were the demo's."""
    return "Address already in use" in output or "Kernel died before replying to kernel_info" in output


# What a terminal is told besides text: CSI sequences (colours, cursor moves) and OSC
# ones (hyperlinks). Stripped, what remains is what the screen shows.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")

# A traceback through kij's own code. stdout may hold tracebacks on purpose (repl-diff
# shows the learner's snippet failing in python3 and IPython); those never run in kij.
KIJ_FRAME = re.compile(r'File "[^"]*[/\\]kij[/\\][^"]*\.py", line \d+')


def no_traceback_through_kij(text: str) -> bool:
    """Where kij's output and a lesson's are mixed (a terminal): no traceback through
    kij's code, and no exception Python could only print."""
    return not KIJ_FRAME.search(text) and "Exception ignored" not in text


# --- JupyterLab in headless Chromium (shared by the notebook and tap tests) ----------

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """Debian's chromium (.ci/run installs it); None where there is none."""
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_serving(base: str, token: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class Lab:
    """A JupyterLab server on loopback, started with a sandbox's environment."""

    def __init__(self, tmp_path: Path, root: Path, env: dict):
        self.port, self.token = free_tcp_port(), "kij-test-token"
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "lab.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={tmp_path / 'ws'}",
             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             *(["--allow-root"] if os.geteuid() == 0 else [])],  # containers often run tests as root
            env={**env, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")},
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"),
        )

    def wait_serving(self, timeout: float = 90) -> None:
        def serving() -> bool:
            assert self.proc.poll() is None, "JupyterLab exited: " + self.log.read_text()[-800:]
            return lab_serving(self.base, self.token)

        wait_until(serving, timeout=timeout, what="JupyterLab to serve")

    def url(self, path: str) -> str:
        return f"{self.base}/{path}?token={self.token}"

    @contextlib.contextmanager
    def page(self, notebook: str, viewport: dict):
        """Headless chromium with `notebook` open in this JupyterLab and its cells drawn."""
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=viewport)
                page.goto(self.url(f"lab/tree/{notebook}"))
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
                yield page
            finally:
                browser.close()

    def stop(self) -> None:
        """Ask the server to shut down its kernels and itself; kill it if it will not."""
        import signal
        import urllib.request

        try:
            req = urllib.request.Request(f"{self.base}/api/shutdown?token={self.token}", method="POST")
            urllib.request.urlopen(req, timeout=10).close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def interrupt(proc: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    """Ctrl-C a running kij and collect what it printed; kill it if it will not end."""
    try:
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def raw_dealers(context, info: dict, channels=("shell", "control")) -> dict:
    """Anonymous DEALERs of our own onto a kernel's ports: for sending it anything at all."""
    import zmq

    from kij.sniffer import address

    sockets = {}
    for channel in channels:
        sockets[channel] = context.socket(zmq.DEALER)
        sockets[channel].linger = 0
        sockets[channel].connect(address(info, channel))
    return sockets
