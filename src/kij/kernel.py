"""Kernel lifecycle: start, attach, restart and shut down kernels — and never leak one.

Every lesson gets its kernels from here, through jupyter_client:

    with started(["python3", "bash"]) as (py, sh):   # both boot at the same time
        py.execute("secret = 6 * 7")

    with attached("kernel-1234.json") as k:           # someone else's kernel
        k.execute("secret")                           # ... which kij never shuts down
                                                      # and never interrupts

The promises this module keeps:

* every kernel kij starts is shut down and its connection file removed on every path:
  normal end, exception, Ctrl-C, SIGTERM (the CLI turns SIGTERM into `Terminated`,
  so the `finally` below runs). Start and shutdown are short critical sections during
  which Ctrl-C/SIGTERM are held back and re-raised afterwards, so a signal can never
  strike between "process spawned" and "process recorded";
* the kernel's own stdout/stderr (ipykernel's start-up warnings, its log lines) go to
  a private unlinked temporary file, never to kij's terminal; `Kernel.log()` reads it;
* waiting is always on the protocol (a reply, status idle, the heartbeat) with a
  timeout — never a sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Iterator

from kij.errors import KernelDied, KernelFault, KernelTimeout, Terminated, UserError

BOOT_TIMEOUT = 60.0
# After shutdown_request, jupyter_client waits half of this for the process to exit,
# then sends SIGTERM, then SIGKILL at the end. ipykernel 7 sometimes deadlocks while
# flushing output at exit (seen with bash_kernel: the control thread waits on a flush
# while the main thread joins it), which would cost 2.5 s of the default 5 s every time.
SHUTDOWN_WAIT = 2.0
POLL_MS = 200  # how often a wait wakes up to check the kernel is still alive

# The CLI may replace these with a spinner and a "stopping kernels …" line; the
# lifecycle itself never renders. stop_indicator is used only when a Ctrl-C or a
# SIGTERM is what brought kij to shut its kernels down.
boot_indicator: Callable[[list[str]], ContextManager] = lambda names: contextlib.nullcontext()
stop_indicator: Callable[[list[str]], ContextManager] = lambda names: contextlib.nullcontext()


# --- the result of running one cell -------------------------------------------------


@dataclass
class Cell:
    """What one execute_request produced, gathered from shell and iopub."""

    code: str
    status: str = ""  # "ok" | "error" | "aborted"
    execution_count: int | None = None
    stdout: str = ""
    stderr: str = ""
    result: str | None = None  # execute_result's text/plain
    ename: str | None = None
    evalue: str | None = None
    traceback: list[str] = field(default_factory=list)
    user_expressions: dict = field(default_factory=dict)
    msg_types: list[str] = field(default_factory=list)  # iopub + shell, in arrival order
    elapsed_ms: float = 0.0


# --- installed kernelspecs ----------------------------------------------------------


def kernelspecs() -> dict[str, str]:
    """Installed kernelspec names → their resource directories."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().find_kernel_specs()


def kernelspec_language(name: str) -> str | None:
    """The language an installed kernelspec declares (its kernel.json's "language")."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().get_kernel_spec(name).language or None


def check_kernel_names(names: list[str]) -> None:
    """Raise a UserError naming what exists if any name is not an installed kernelspec."""
    known = kernelspecs()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(
            f"no kernel named {', '.join(map(repr, unknown))}; "
            f"installed kernelspecs: {', '.join(sorted(known))}"
        )


# --- signals ------------------------------------------------------------------------


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM for a short critical section, then deliver the graver.

    A recording handler (not SIG_IGN, which a child process would inherit) notes the
    signal; when the section ends the original handler gets it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in saved:
        signal.signal(s, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
        if pending:  # re-deliver one, to the real handler: SIGTERM outranks Ctrl-C
            os.kill(os.getpid(), signal.SIGTERM if signal.SIGTERM in pending else pending[0])


def raise_on_sigterm() -> None:
    """Make SIGTERM raise `Terminated`, so cleanup runs as it does for Ctrl-C."""

    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)


# --- one kernel ---------------------------------------------------------------------


class Kernel:
    """A kernel kij talks to: its client, and its manager if kij started it."""

    def __init__(self, name: str, client, manager=None, log_file=None, connection_file=""):
        self.name = name
        self.client = client  # jupyter_client BlockingKernelClient
        self.manager = manager  # jupyter_client KernelManager, or None when attached
        self._log_file = log_file
        self.connection_file = connection_file
        self.info: dict = {}  # the kernel_info_reply content, filled in by wait_ready
        self.boot_ms: float = 0.0
        self.boot_error: str | None = None
        self.launched_at: float = time.monotonic()  # when the process was spawned

    @property
    def owned(self) -> bool:
        """True when kij started this kernel (and so must shut it down)."""
        return self.manager is not None

    @property
    def pid(self) -> int | None:
        """The kernel process's PID as the launcher knows it (None when attached)."""
        if self.manager is None or self.manager.provisioner is None:
            return None
        return getattr(self.manager.provisioner, "pid", None)

    @property
    def connection_info(self) -> dict:
        """Ports, address, transport and key: what the connection file says."""
        return self.client.get_connection_info(session=False)

    def log(self) -> str:
        """Everything the kernel process wrote to stdout/stderr so far."""
        if self._log_file is None or self._log_file.closed:
            return ""
        fd = self._log_file.fileno()
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        return data.decode("utf-8", "replace")

    def is_alive(self) -> bool:
        if self.manager is not None:
            return self.manager.is_alive()
        # Attached: only the heartbeat can tell. Its thread says False only after a
        # ping went unanswered for time_to_dead (1 s); None means "no verdict yet".
        return getattr(self.client.hb_channel, "_beating", None) is not False

    def check_alive(self, doing: str) -> None:
        """Raise KernelDied (with the kernel's last log lines) if the process is gone."""
        if not self.is_alive():
            raise KernelDied(f"the {self.name} kernel died {doing}{_log_tail(self.log())}")

    # -- talking to it --

    def wait_ready(self, timeout: float = BOOT_TIMEOUT, resend_unanswered: bool = True) -> dict:
        """Block until the kernel answers kernel_info on shell *and* iopub is live.

        The shell reply proves the kernel is up; the matching `status: idle` on iopub
        proves our SUB socket is subscribed, so no broadcast of the next cell is lost.
        A booting kernel is asked again every second; with resend_unanswered=False a
        request nobody has answered yet is not repeated (on a busy kernel each one would
        queue behind the running cell).
        """
        deadline = time.monotonic() + timeout
        msg_id = None
        reply = None
        while time.monotonic() < deadline:
            if msg_id is None or reply or resend_unanswered:
                msg_id = self.client.kernel_info()
            reply = None
            got_idle = False
            resend_at = time.monotonic() + 1.0
            while time.monotonic() < min(resend_at, deadline) and not (reply and got_idle):
                self.check_alive("while starting")
                for channel, msg in self._poll(POLL_MS):
                    if msg["parent_header"].get("msg_id") != msg_id:
                        continue
                    if channel == "shell":
                        reply = msg
                    elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                        got_idle = True
            if reply and got_idle:
                self.info = reply["content"]
                return self.info
            if reply:  # shell works, iopub not yet subscribed: ask again
                continue
        raise KernelFault(f"the {self.name} kernel did not answer within {timeout:g} s{_log_tail(self.log())}")

    def kernel_info(self, timeout: float = 10.0) -> dict:
        """Send kernel_info_request on shell and return the reply's content."""
        msg_id = self.client.kernel_info()
        return self._shell_reply(msg_id, timeout, "kernel_info")["content"]

    def is_complete(self, code: str, timeout: float = 10.0) -> str:
        """Ask the kernel whether code is a whole cell yet (is_complete_request):
        "complete", "incomplete", "invalid" or "unknown" — what a console frontend
        asks before deciding that Enter means "run" rather than "new line"."""
        msg_id = self.client.is_complete(code)
        return self._shell_reply(msg_id, timeout, "is_complete")["content"].get("status", "unknown")

    def execute(
        self,
        code: str,
        timeout: float = 30.0,
        silent: bool = False,
        store_history: bool = True,
        user_expressions: dict | None = None,
    ) -> Cell:
        """Run one cell and gather what it produced until the kernel is idle again.

        On timeout KernelTimeout is raised; a kernel kij started is interrupted first
        (SIGINT, the way its kernelspec asks), a kernel kij only attached to never is —
        the running cell may be someone else's. If the process dies, KernelDied is
        raised instead of waiting forever.
        """
        cell = Cell(code=code)
        start = time.monotonic()
        msg_id = self.client.execute(
            code, silent=silent, store_history=store_history,
            user_expressions=user_expressions or {}, allow_stdin=False,
        )
        reply = None
        idle = False
        deadline = start + timeout
        while not (reply and idle):
            if time.monotonic() > deadline:
                raise KernelTimeout(self.timed_out(timeout))
            self.check_alive("while running the cell")
            for channel, msg in self._poll(POLL_MS):
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                cell.msg_types.append(msg["msg_type"])
                if channel == "shell":
                    reply = msg
                else:
                    idle = idle or _gather(cell, msg)
        content = reply["content"]
        cell.status = content.get("status", "")
        cell.execution_count = content.get("execution_count", cell.execution_count)
        cell.user_expressions = content.get("user_expressions", {})
        if cell.status == "error" and cell.ename is None:
            cell.ename, cell.evalue = content.get("ename"), content.get("evalue")
            cell.traceback = content.get("traceback", [])
        cell.elapsed_ms = (time.monotonic() - start) * 1000
        return cell

    def timed_out(self, timeout: float) -> str:
        """What to say when a cell outlives --timeout; interrupts only a kernel kij started."""
        if self.owned:
            self.interrupt()
            return (f"the cell ran longer than {timeout:g} s; kij interrupted the {self.name} kernel "
                    "(give it more time with --timeout SECONDS)")
        return (f"the cell did not finish within {timeout:g} s; kij only attached to this kernel, so it "
                "did not interrupt it — the cell may still be queued or running there "
                "(give it more time with --timeout SECONDS)")

    def interrupt(self) -> None:
        """Interrupt the running cell of a kernel kij started: the way its kernelspec asks,
        through jupyter_client. A kernel kij only attached to is never interrupted: the
        cell running there may be another client's."""
        if self.manager is None:
            raise KernelFault("kij never interrupts a kernel it only attached to")
        self.manager.interrupt_kernel()

    def relaunch_on_new_ports(self) -> None:
        """Start a kernel that died while booting again, on new ports, with a new client."""
        with signals_deferred():
            self.client.stop_channels()
            for port in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
                setattr(self.manager, port, 0)  # 0 = "pick a free one" at the next launch
            self.manager.cleanup_connection_file()  # so the new ports get written
            self.manager.restart_kernel(now=True)
            self.connection_file = self.manager.connection_file
            self.client = self.manager.client()
            self.client.start_channels()

    def restart(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Restart a kernel kij started: a new process on the same ports, empty state."""
        if self.manager is None:
            raise UserError("kij does not restart a kernel it only attached to")
        with signals_deferred():
            self.manager.restart_kernel(now=False)
        self.wait_ready(timeout)

    # -- plumbing --

    def _poll(self, timeout_ms: int) -> list[tuple[str, dict]]:
        """Wait up to timeout_ms for shell or iopub messages; return all that arrived."""
        import zmq

        channels = {"shell": self.client.shell_channel, "iopub": self.client.iopub_channel}
        poller = zmq.Poller()
        for ch in channels.values():
            poller.register(ch.socket, zmq.POLLIN)
        ready = dict(poller.poll(timeout_ms))
        got = []
        for name, ch in channels.items():
            if ch.socket in ready:
                while ch.msg_ready():
                    got.append((name, ch.get_msg(timeout=0)))
        return got

    def _shell_reply(self, msg_id: str, timeout: float, what: str) -> dict:
        return self._reply_on(self.client.shell_channel, msg_id, timeout, what)

    def _reply_on(self, channel, msg_id: str, timeout: float, what: str) -> dict:
        import zmq

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive(f"while waiting for the {what} reply")
            if channel.socket.poll(POLL_MS, zmq.POLLIN):
                msg = channel.get_msg(timeout=0)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return msg
        raise KernelFault(f"the {self.name} kernel sent no {what} reply within {timeout:g} s")


def _gather(cell: Cell, msg: dict) -> bool:
    """Fold one iopub message into the cell; True when it is `status: idle`."""
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        if content["name"] == "stdout":
            cell.stdout += content["text"]
        else:
            cell.stderr += content["text"]
    elif kind == "execute_result":
        cell.result = content["data"].get("text/plain")
        cell.execution_count = content.get("execution_count")
    elif kind == "error":
        cell.ename, cell.evalue = content["ename"], content["evalue"]
        cell.traceback = content["traceback"]
    elif kind == "status":
        return content["execution_state"] == "idle"
    return False


# Start-up chatter every ipykernel prints; it never explains why a kernel died.
_NOISE = ("running over TCP without encryption",)


def _log_tail(log: str, lines: int = 3) -> str:
    """The kernel's last few meaningful log lines, to quote when it fails."""
    useful = [line for line in log.strip().splitlines()
              if line.strip() and not any(n in line for n in _NOISE)]
    tail = useful[-lines:]
    return ("; its last words: " + " | ".join(tail)) if tail else ""


# --- starting and attaching ---------------------------------------------------------


def _launch(name: str, env: dict | None = None) -> Kernel:
    """Spawn one kernel process (no waiting). Called with signals deferred."""
    from jupyter_client.manager import KernelManager

    log_file = tempfile.TemporaryFile(prefix="kij-kernel-log-")
    manager = KernelManager(
        kernel_name=name, connection_file=_new_connection_file(), shutdown_wait_time=SHUTDOWN_WAIT
    )
    kernel = Kernel(name, client=None, manager=manager, log_file=log_file)
    try:
        extra = {"env": env} if env is not None else {}
        manager.start_kernel(stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, **extra)
    except Exception as exc:  # e.g. the kernelspec's executable does not exist
        _cleanup_manager(manager)
        log_file.close()
        raise KernelFault(f"could not start the {name} kernel: {exc}") from None
    kernel.connection_file = manager.connection_file
    kernel.client = manager.client()
    kernel.client.start_channels()
    return kernel


def _new_connection_file() -> str:
    """A fresh path in Jupyter's runtime directory, where JupyterLab keeps its own."""
    import uuid

    from kij.paths import runtime_dir

    runtime = runtime_dir()
    runtime.mkdir(parents=True, exist_ok=True)
    return str(runtime / f"kernel-kij-{uuid.uuid4().hex[:12]}.json")


def _cleanup_manager(manager) -> None:
    with contextlib.suppress(Exception):
        manager.cleanup_resources()


@contextlib.contextmanager
def launched(names: list[str], envs: list[dict | None] | None = None) -> Iterator[list[Kernel]]:
    """Spawn kernels by kernelspec name without waiting for them; shut every one down
    on exit. Each may get its own environment (envs[i], else kij's own).

    For callers with other work to do while the kernels boot (kij tour launches every
    lesson's kernels up front): call `ready(kernels)` before talking to one.
    """
    check_kernel_names(names)
    envs = list(envs) if envs is not None else [None] * len(names)
    kernels: list[Kernel] = []
    try:
        for name, env in zip(names, envs):
            with signals_deferred():
                kernels.append(_launch(name, env))
        yield kernels
    finally:
        shutdown(kernels)


def ready(kernels: list[Kernel], timeout: float = BOOT_TIMEOUT, keep_failed: bool = False) -> None:
    """Wait until every kernel answers kernel_info; ones already ready return at once.

    With keep_failed, a kernel that dies or never answers gets `boot_error` set
    instead of raising. `boot_ms` is how long the caller waited for it: from its
    launch, or from this call if it was launched earlier (kij tour launches kernels
    ahead, so a lesson there often waits for nothing).
    """
    waiting = [k for k in kernels if not k.info and k.boot_error is None]
    if not waiting:
        return
    t0 = time.monotonic()
    with boot_indicator([k.name for k in waiting]):
        for kernel in waiting:
            try:
                _wait_ready_or_relaunch(kernel, deadline=t0 + timeout)
            except KernelFault as exc:
                if not keep_failed:
                    raise
                kernel.boot_error = str(exc)
            kernel.boot_ms = (time.monotonic() - max(kernel.launched_at, t0)) * 1000


PORT_TAKEN = "Address already in use"


def _wait_ready_or_relaunch(kernel: Kernel, deadline: float, attempts: int = 3) -> None:
    """wait_ready, relaunching on fresh ports if the kernel lost a port race.

    jupyter_client picks free ports by binding to port 0 and letting go; the kernel
    binds them a moment later. If another process took one in between, the kernel
    dies at once with "Address already in use" — a race, not a fault, so kij asks
    jupyter_client for new ports and starts it again (at most `attempts` times).
    """
    for attempt in range(attempts):
        try:
            kernel.wait_ready(timeout=max(1.0, deadline - time.monotonic()))
            return
        except KernelDied:
            if not (kernel.owned and PORT_TAKEN in kernel.log() and attempt + 1 < attempts):
                raise
            kernel.relaunch_on_new_ports()


@contextlib.contextmanager
def started(
    names: list[str],
    timeout: float = BOOT_TIMEOUT,
    keep_failed: bool = False,
    env: dict | None = None,
) -> Iterator[list[Kernel]]:
    """Start kernels by kernelspec name, all at once; shut every one down on exit.

    All processes are spawned first, then waited on, so the boots overlap and the
    whole takes about as long as the slowest kernel. With keep_failed, a kernel that
    dies or never answers is returned with `boot_error` set instead of raising.
    """
    with launched(names, [env] * len(names)) as kernels:
        ready(kernels, timeout, keep_failed)
        yield kernels


@contextlib.contextmanager
def using(
    given: list[Kernel] | None,
    names: list[str],
    envs: list[dict | None] | None = None,
) -> Iterator[list[Kernel]]:
    """The kernels a lesson runs on, launched but maybe not ready yet — the lesson does
    its own local work first and calls `ready()` when it needs them. Either the ones it
    was handed (launched by a caller who shuts them down: kij tour), or fresh ones it
    launches and shuts down itself."""
    if given is not None:
        yield given
    else:
        with launched(names, envs) as kernels:
            yield kernels


def shutdown(kernels: list[Kernel]) -> None:
    """Shut down the kernels kij started (all at once) and remove their connection files.

    Politely first (shutdown_request), then jupyter_client kills whatever has not
    exited. Attached kernels only lose our sockets. Signals are held back meanwhile,
    so a second Ctrl-C cannot leave a process behind.
    """
    owned = [k for k in kernels if k.owned]
    interrupted = isinstance(sys.exc_info()[1], (KeyboardInterrupt, Terminated))
    saying = stop_indicator([k.name for k in owned]) if owned and interrupted else contextlib.nullcontext()
    with signals_deferred(), saying:
        for k in owned:
            with contextlib.suppress(Exception):
                if k.manager.is_alive():
                    k.manager.request_shutdown()
        for k in owned:
            with contextlib.suppress(Exception):
                k.manager.finish_shutdown()
            with contextlib.suppress(Exception):
                if k.manager.is_alive():
                    k.manager._kill_kernel()
            _cleanup_manager(k.manager)
            with contextlib.suppress(Exception):
                os.unlink(k.manager.connection_file)
        for k in kernels:
            if k.client is not None:
                with contextlib.suppress(Exception):
                    k.client.stop_channels()
            if k._log_file is not None:
                k._log_file.close()


def read_connection_file(path: str | Path) -> dict:
    """Load and check a connection file; a UserError says what is wrong with it."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"no such connection file: {p}")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read connection file {p}: {exc.__class__.__name__}") from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        raise UserError(f"{p} is not a connection file (not JSON)") from None
    needed = ["ip", "transport", "key", "signature_scheme", "shell_port", "iopub_port",
              "stdin_port", "control_port", "hb_port"]
    missing = [k for k in needed if not isinstance(info, dict) or k not in info]
    if missing:
        raise UserError(f"{p} is not a connection file (missing {', '.join(missing)})")
    return info


def find_connection_file(given: str) -> Path:
    """The connection file `--existing` names: a path, or — as `jupyter console
    --existing` takes it — a file name or kernel id looked up in Jupyter's runtime
    directory (`1234` finds kernel-1234.json, and so does any unique part of an id)."""
    from kij.paths import runtime_dir

    path = Path(given).expanduser()
    if path.exists() or path.parent != Path("."):  # a path: read_connection_file judges it
        return path
    runtime = runtime_dir()
    for name in (given, f"{given}.json", f"kernel-{given}.json"):
        if (runtime / name).is_file():
            return runtime / name
    matches = sorted(runtime.glob(f"kernel-*{given}*.json")) if runtime.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(m.name for m in matches[:4]) + (" …" if len(matches) > 4 else "")
        raise UserError(f"{given!r} matches {len(matches)} connection files in {runtime}: {names}; give more of the id")
    raise UserError(f"no such connection file: {given} (nor a kernel id or file name in {runtime})")


BUSY_GRACE = 2.0  # how long a live kernel's shell may take to answer before kij says it is busy


@contextlib.contextmanager
def attached(connection_file: str | Path, timeout: float = 10.0,
             on_busy: Callable[[str], None] | None = None) -> Iterator[Kernel]:
    """Connect to a running kernel through its connection file. Never shuts it down,
    never interrupts it.

    First kernel_info on control — a lane that answers even while a cell runs — proves
    a kernel is there at all; then kernel_info on shell. A shell that is slower than
    BUSY_GRACE is busy with an earlier request (another client's cell): `on_busy` is
    told so, and kij waits for it up to `timeout` seconds, then gives up saying so.
    """
    from jupyter_client.blocking import BlockingKernelClient

    info = read_connection_file(connection_file)
    client = BlockingKernelClient()
    client.load_connection_info(info)
    client.start_channels()
    kernel = Kernel("attached", client=client, connection_file=str(connection_file))
    try:
        try:
            kernel._reply_on(client.control_channel, _control_kernel_info(client), 10.0, "kernel_info")
        except KernelFault:
            raise KernelFault(
                f"no kernel is answering at the address in {connection_file} — is it still running?"
            ) from None
        try:
            kernel.wait_ready(min(BUSY_GRACE, timeout), resend_unanswered=False)
        except KernelFault:
            if on_busy is not None:
                on_busy(f"the kernel answers on control but its shell is busy (still handling an earlier "
                        f"request — most likely another client's cell); kij waits up to {timeout:g} s "
                        "and will not interrupt it")
            try:
                kernel.wait_ready(max(0.1, timeout - BUSY_GRACE), resend_unanswered=False)
            except KernelFault:
                raise KernelFault(
                    f"the kernel in {connection_file} is busy: it answered on control, but its shell did "
                    f"not answer within {timeout:g} s (still handling an earlier request — most likely another "
                    "client's cell). kij left it alone — it never interrupts a kernel it did not start; try "
                    "again when it is idle, or wait longer with --timeout"
                ) from None
        yield kernel
    finally:
        shutdown([kernel])


def _control_kernel_info(client) -> str:
    """Send kernel_info_request on the control channel; return its msg_id."""
    msg = client.session.msg("kernel_info_request", {})
    client.control_channel.send(msg)
    return msg["header"]["msg_id"]
