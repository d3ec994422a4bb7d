"""Kernel lifecycle: start, attach, restart and shut down kernels — and never leak one.

Every lesson gets its kernels from here, through jupyter_client — one way to get
kernels kij owns, one for kernels it must leave alone:

    with started(["python3", "bash"]) as (py, sh):   # both boot at the same time
        py.execute("secret = 6 * 7")

    with attached("kernel-1234.json") as k:           # someone else's kernel
        k.execute("secret")                           # ... which kij never shuts down
                                                      # and never interrupts

    with pool([("python3", None), ("bash", None)]):   # kij tour: launch ahead ...
        with started(["python3"]) as (py,):           # ... and `started` takes from it

Every request kij sends and waits for goes through one function, `await_reply`:
it gathers what points back at the request (its reply, its iopub broadcasts) until
the reply and `status: idle` have both arrived, or the timeout passes — as
ipykernel wraps every request in one busy … idle. It serves jupyter_client's
channels here and kij's raw sockets in `kij.sniffer` alike.

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
import contextvars
import functools
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
from typing import Callable, ContextManager, Iterable, Iterator

from kij import processes
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


# --- elapsed time: measured here and nowhere else -------------------------------------


def ms_since(t0: float) -> float:
    """Milliseconds since t0 (a time.monotonic() reading), to a tenth."""
    return round((time.monotonic() - t0) * 1000, 1)


def timed(run: Callable) -> Callable:
    """Decorate a lesson's run(): its result's `elapsed_ms` is the whole call's wall time."""

    @functools.wraps(run)
    def wrapper(*args, **kwargs):
        t0 = time.monotonic()
        result = run(*args, **kwargs)
        result.elapsed_ms = ms_since(t0)
        return result

    return wrapper


# --- one request, and everything that answered it ------------------------------------


@dataclass
class Exchange:
    """What came back for one request: its reply, and whether iopub said busy / idle for it.

    `messages` holds every message whose parent_header points at the request, in arrival
    order. Messages are anything with .channel, .msg_type, .parent_id and .content: a
    `Received` from jupyter_client's channels, or a `kij.sniffer.Sniffed`.
    """

    request_id: str
    reply_type: str | None  # e.g. "execute_reply"; None for a message that gets no reply (comm_msg)
    reply: object | None = None
    busy: bool = False
    idle: bool = False
    welcomed: bool = False  # an iopub_welcome arrived (a new subscriber's proof, on kernels that send it)
    messages: list = field(default_factory=list)
    stopped_on: object | None = None  # the message that ended the wait early (await_reply's stop_on)
    elapsed_ms: float = 0.0

    @property
    def iopub_live(self) -> bool:
        """Our SUB socket provably hears the kernel: idle for the request came, or a
        welcome came and no busy for it (so no idle can be straggling behind)."""
        return self.idle or (self.welcomed and not self.busy)

    def missing(self, need_idle: bool = True) -> str:
        """What did not arrive, in words: "neither the execute_reply nor the status idle"."""
        if self.reply_type is None:
            return "nothing" if self.idle or not need_idle else "no status idle"
        if not need_idle or self.idle:
            return f"no {self.reply_type}" if self.reply is None else "nothing"
        if self.reply is None:
            return f"neither the {self.reply_type} nor the status idle"
        return f"the {self.reply_type} but not the status idle"


def await_reply(
    poll: Callable[[int], list],
    request_id: str,
    reply_type: str | None,
    timeout: float,
    reply_channel: str = "shell",
    need_idle: bool = True,
    accept_welcome: bool = False,
    watchdog: Callable[[], None] | None = None,
    on_message: Callable[[object], None] | None = None,
    welcomed: bool = False,
    earlier: Iterable = (),
    stop_on: Callable[[object], bool] | None = None,
) -> Exchange:
    """Wait for the reply to request_id on reply_channel and (need_idle) its `status: idle`
    on iopub — kij's one send-and-wait, after the caller has sent the request.

    poll(ms) returns what arrived within ms; watchdog (e.g. "raise if the kernel died")
    runs between polls; on_message sees each message that points at the request (to
    gather output, or answer an input_request). With accept_welcome, an iopub_welcome
    and no busy counts as idle (see Exchange.iopub_live). On timeout the Exchange comes
    back incomplete: `exchange.missing()` says what never came. `welcomed` carries a
    welcome seen while waiting for an earlier request; `earlier` holds messages that
    arrived before this call (while waiting for another request) and count as if they
    arrived now. A reply_type of None means the message gets no reply (comm_open,
    comm_msg, comm_close): its status idle alone ends the wait. With stop_on, the wait
    is instead for the first message — for this request or not, e.g. the stream that
    proves a cell is running — that it accepts (`exchange.stopped_on`, None if none
    came within the timeout).
    """
    exchange = Exchange(request_id=request_id, reply_type=reply_type, welcomed=welcomed)
    t0 = time.monotonic()
    deadline = t0 + timeout

    def take(msg) -> None:
        _note(exchange, msg, reply_channel, on_message)
        if stop_on is not None and exchange.stopped_on is None and stop_on(msg):
            exchange.stopped_on = msg

    def done() -> bool:
        live = exchange.iopub_live if accept_welcome else exchange.idle
        if stop_on is not None:
            return exchange.stopped_on is not None
        replied = exchange.reply is not None or reply_type is None
        return replied and (live or not need_idle)

    for msg in earlier:
        take(msg)
    while not done() and time.monotonic() < deadline:
        if watchdog is not None:
            watchdog()
        left_ms = max(1, int((deadline - time.monotonic()) * 1000))
        for msg in poll(min(POLL_MS, left_ms)):
            take(msg)
    exchange.elapsed_ms = ms_since(t0)
    return exchange


def _note(exchange: Exchange, msg, reply_channel: str, on_message) -> None:
    """Fold one arriving message into the exchange (ignoring what answers other requests)."""
    if msg.msg_type == "iopub_welcome":
        exchange.welcomed = True
    if msg.parent_id != exchange.request_id:
        return
    exchange.messages.append(msg)
    if on_message is not None:
        on_message(msg)
    if msg.channel == reply_channel:
        exchange.reply = msg
    elif msg.msg_type == "status":
        state = msg.content.get("execution_state")
        exchange.busy = exchange.busy or state == "busy"
        exchange.idle = exchange.idle or state == "idle"


def until_live(
    ask: Callable[[], str],
    poll: Callable[[int], list],
    timeout: float,
    reply_channel: str,
    resend_unanswered: bool = True,
    accept_welcome: bool = False,
    watchdog: Callable[[], None] | None = None,
) -> Exchange | None:
    """Send kernel_info (ask() sends it, returns its msg_id) until a reply arrives and iopub
    is live for it; None if the timeout passes first. A booting kernel is asked again
    every second; with resend_unanswered=False a request nobody has answered is not
    repeated (on a busy kernel each one would queue behind the running cell)."""
    deadline = time.monotonic() + timeout
    welcomed = False
    exchange = None
    while time.monotonic() < deadline:
        if exchange is None or exchange.reply is not None or resend_unanswered:
            request_id = ask()
        exchange = await_reply(poll, request_id, "kernel_info_reply", min(1.0, deadline - time.monotonic()),
                               reply_channel, accept_welcome=accept_welcome, watchdog=watchdog,
                               welcomed=welcomed)
        welcomed = exchange.welcomed
        if exchange.reply is not None and (exchange.iopub_live if accept_welcome else exchange.idle):
            return exchange
    return None


# --- installed kernelspecs ----------------------------------------------------------


def spec_manager():
    """A jupyter_client KernelSpecManager looking where jupyter_client's own looks —
    Jupyter's data path, then IPython's directory — told those directories here.

    Left to work them out, it imports all of IPython (IPython.paths) only to learn the
    IPython directory: a tenth of a second of CPU in every kij command, in kij's
    process, beside the kernels. The directory is IPython's rule without IPython:
    $IPYTHONDIR (or the old $IPYTHON_DIR), else ~/.ipython. Made anew on each call, so
    a changed JUPYTER_PATH is seen, as it is by a fresh KernelSpecManager().
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.paths import jupyter_path

    ipython_dir = os.environ.get("IPYTHONDIR") or os.environ.get("IPYTHON_DIR") or "~/.ipython"
    ipython_kernels = os.path.join(os.path.normpath(os.path.expanduser(ipython_dir)), "kernels")
    return KernelSpecManager(kernel_dirs=[*jupyter_path("kernels"), ipython_kernels])


def kernelspecs() -> dict[str, str]:
    """Installed kernelspec names → their resource directories."""
    return spec_manager().find_kernel_specs()


def kernelspec(name: str):
    """An installed kernelspec, by name (jupyter_client's KernelSpec)."""
    return spec_manager().get_kernel_spec(name)


def kernelspec_language(name: str) -> str | None:
    """The language an installed kernelspec declares (its kernel.json's "language")."""
    return spec_manager().get_kernel_spec(name).language or None


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
    """Make SIGTERM raise `Terminated`, so cleanup runs as it does for Ctrl-C; and never
    lose either to a callback.

    Python raises KeyboardInterrupt in whatever code runs when the signal lands. If
    that is a weakref callback or a __del__ (the garbage collector runs them anywhere),
    Python only prints "Exception ignored in …" with a traceback, and the Ctrl-C is gone.
    kij's hook for such exceptions sends the signal again, to be raised where kij can
    act on it. It is sent from a new thread: sent from the hook itself, it would be
    raised in the hook. The new thread must take the interpreter lock before it can
    send, and the hook returns a few bytecodes later, so the signal lands after it; if
    it still lands in a callback, the hook sends it again the same way.
    """

    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    default_hook = sys.unraisablehook

    def unraisable(info) -> None:
        import _thread

        for kind, signum in ((KeyboardInterrupt, signal.SIGINT), (Terminated, signal.SIGTERM)):
            if issubclass(info.exc_type, kind):
                _thread.start_new_thread(os.kill, (os.getpid(), signum))
                return
        default_hook(info)

    sys.unraisablehook = unraisable


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
        self._ports_lost_before = 0  # "Address already in use" lines in the log before this launch
        self.env: dict | None = None  # the environment it was launched with, if not kij's own

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

    def last_words(self) -> str:
        """"; its last words: …" — the last meaningful lines of its log, or nothing."""
        return log_tail(self.log())

    def is_alive(self) -> bool:
        if self.manager is not None:
            return self.manager.is_alive()
        # Attached: only the heartbeat can tell. Its thread says False only after a
        # ping went unanswered for time_to_dead (1 s); None means "no verdict yet".
        return getattr(self.client.hb_channel, "_beating", None) is not False

    def check_alive(self, doing: str) -> None:
        """Raise KernelDied (with the kernel's last log lines) if the process is gone."""
        if not self.is_alive():
            raise KernelDied(f"the {self.name} kernel died {doing}{self.last_words()}")

    def _check_booting(self) -> None:
        """check_alive, and for a kernel kij started: a port it could not bind counts as
        death too. ipykernel prints "Address already in use" and may live on without its
        sockets, answering nothing; kij then relaunches it on new ports at once instead
        of waiting out the boot timeout (seen once in a full test run)."""
        self.check_alive("while starting")
        if self.owned and self.log().count(PORT_TAKEN) > self._ports_lost_before:  # this launch's, not an earlier one's
            raise KernelDied(f"the {self.name} kernel could not bind a port{self.last_words()}")

    # -- talking to it --

    def wait_ready(self, timeout: float = BOOT_TIMEOUT, resend_unanswered: bool = True) -> dict:
        """Block until the kernel answers kernel_info on shell *and* iopub is live.

        The shell reply proves the kernel is up; the matching `status: idle` on iopub
        proves our SUB socket is subscribed, so no broadcast of the next cell is lost.
        (`until_live` asks again every second; see there for resend_unanswered.)
        """
        exchange = until_live(self.client.kernel_info, self._poll, timeout, "shell",
                              resend_unanswered, watchdog=self._check_booting)
        if exchange is None:
            raise KernelFault(f"the {self.name} kernel did not answer within {timeout:g} s{self.last_words()}")
        self.info = exchange.reply.content
        return self.info

    def kernel_info(self, timeout: float = 10.0) -> dict:
        """Send kernel_info_request on shell and return the reply's content."""
        return self.request(self.client.kernel_info(), "kernel_info_reply", timeout).content

    def is_complete(self, code: str, timeout: float = 10.0) -> str:
        """Ask the kernel whether code is a whole cell yet (is_complete_request):
        "complete", "incomplete", "invalid" or "unknown" — what a console frontend
        asks before deciding that Enter means "run" rather than "new line"."""
        reply = self.request(self.client.is_complete(code), "is_complete_reply", timeout)
        return reply.content.get("status", "unknown")

    def request(self, msg_id: str, reply_type: str, timeout: float, channel: str = "shell") -> "Received":
        """The reply to a request just sent on shell (or control); KernelFault if none comes."""
        exchange = await_reply(functools.partial(self._poll, channels=(channel,)), msg_id, reply_type,
                               timeout, channel, need_idle=False,
                               watchdog=lambda: self.check_alive(f"while waiting for the {reply_type}"))
        if exchange.reply is None:
            raise KernelFault(f"the {self.name} kernel sent no {reply_type} within {timeout:g} s")
        return exchange.reply

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
        msg_id = self.client.execute(
            code, silent=silent, store_history=store_history,
            user_expressions=user_expressions or {}, allow_stdin=False,
        )
        exchange = await_reply(self._poll, msg_id, "execute_reply", timeout,
                               watchdog=lambda: self.check_alive("while running the cell"),
                               on_message=lambda got: _gather(cell, got))
        if exchange.reply is None or not exchange.idle:
            raise KernelTimeout(self.timed_out(timeout))
        content = exchange.reply.content
        cell.status = content.get("status", "")
        cell.execution_count = content.get("execution_count", cell.execution_count)
        cell.user_expressions = content.get("user_expressions", {})
        if cell.status == "error" and cell.ename is None:
            cell.ename, cell.evalue = content.get("ename"), content.get("evalue")
            cell.traceback = content.get("traceback", [])
        cell.elapsed_ms = exchange.elapsed_ms
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
        self._ports_lost_before = self.log().count(PORT_TAKEN)
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

    def _poll(self, timeout_ms: int, channels: tuple[str, ...] = ("shell", "iopub")) -> list[Received]:
        return poll_channels(self.client, timeout_ms, channels)


def poll_channels(client, timeout_ms: int, channels: tuple[str, ...] = ("shell", "iopub")) -> list[Received]:
    """Wait up to timeout_ms for messages on a jupyter_client client's channels; return
    all that arrived (the `poll` that `await_reply` reads jupyter_client through)."""
    import zmq

    by_name = {name: getattr(client, f"{name}_channel") for name in channels}
    poller = zmq.Poller()
    for ch in by_name.values():
        poller.register(ch.socket, zmq.POLLIN)
    ready = dict(poller.poll(timeout_ms))
    got = []
    for name, ch in by_name.items():
        if ch.socket in ready:
            while ch.msg_ready():
                got.append(Received(name, ch.get_msg(timeout=0)))
    return got


@dataclass
class Received:
    """A message off one of jupyter_client's channels, as `await_reply` reads it."""

    channel: str
    msg: dict

    @property
    def msg_type(self) -> str:
        return self.msg["msg_type"]

    @property
    def parent_id(self) -> str:
        return self.msg["parent_header"].get("msg_id", "")

    @property
    def content(self) -> dict:
        return self.msg["content"]


def _gather(cell: Cell, got: Received) -> None:
    """Fold one message answering the cell's request into the cell."""
    cell.msg_types.append(got.msg_type)
    kind, content = got.msg_type, got.content
    if got.channel != "iopub":
        return
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


# Start-up chatter every ipykernel prints; it never explains why a kernel died.
_NOISE = ("running over TCP without encryption",)


def log_tail(log: str, lines: int = 3) -> str:
    """The kernel's last few meaningful log lines, to quote when it fails."""
    useful = [line for line in log.strip().splitlines()
              if line.strip() and not any(n in line for n in _NOISE)]
    tail = useful[-lines:]
    return ("; its last words: " + " | ".join(tail)) if tail else ""


# --- starting and attaching ---------------------------------------------------------


def kernel_env(env: dict | None = None) -> dict:
    """The environment a kernel (or a server) kij starts gets: the one asked for (else
    kij's own), without PYTHONDONTWRITEBYTECODE. Where a machine sets it, nothing ever writes a
    .pyc, and every kernel would compile IPython, ipykernel and jupyter_client from
    source on every boot (python3: 3.2 s of CPU before its first kernel_info_reply,
    0.7 s with bytecode — benchmarks/bench_boot.py). This way the first kernel writes
    the bytecode, and every later kernel — and kij itself — reads it."""
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _launch(name: str, env: dict | None = None, transport_encryption: str | None = None) -> Kernel:
    """Spawn one kernel process (no waiting). Called with signals deferred.
    transport_encryption is jupyter_client's CurveZMQ policy ("auto", "required"; None
    keeps its default, "disabled"): with it the connection file carries curve keys."""
    from jupyter_client.manager import KernelManager

    from kij.client import CLIENT_CLASS

    log_file = tempfile.TemporaryFile(prefix="kij-kernel-log-")
    manager = KernelManager(
        kernel_name=name, connection_file=_new_connection_file(), shutdown_wait_time=SHUTDOWN_WAIT,
        kernel_spec_manager=spec_manager(), client_class=CLIENT_CLASS,
    )
    kernel = Kernel(name, client=None, manager=manager, log_file=log_file)
    kernel.env = env
    try:
        extra = {"env": kernel_env(env)}
        if transport_encryption is not None:
            extra["transport_encryption"] = transport_encryption
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
def _launched(wanted: list[tuple[str, dict | None]], transport_encryption: str | None = None) -> Iterator[list[Kernel]]:
    """Spawn kernels — (kernelspec name, environment or None for kij's own) — without
    waiting for them; shut every one down on exit."""
    if wanted:
        check_kernel_names([name for name, _ in wanted])
    kernels: list[Kernel] = []
    try:
        for name, env in wanted:
            with signals_deferred():
                kernels.append(_launch(name, env, transport_encryption))
        yield kernels
    finally:
        shutdown(kernels)


# Kernels launched ahead by `pool`, not yet taken by a `started` block.
_pooled: contextvars.ContextVar[list[Kernel] | None] = contextvars.ContextVar("kij_pooled", default=None)


@contextlib.contextmanager
def pool(wanted: list[tuple[str, dict | None]]) -> Iterator[list[Kernel]]:
    """Launch kernels ahead — (kernelspec name, environment or None) — for the `started`
    blocks inside to take, so they boot while other work runs (kij tour launches every
    lesson's kernels up front). Each is handed out once, to the first `started` asking
    for its name and environment, so every block gets fresh kernels; all of them are
    shut down together when the pool closes, on every path."""
    with _launched(wanted) as kernels:
        token = _pooled.set(list(kernels))
        try:
            yield kernels
        finally:
            _pooled.reset(token)


def _take(name: str, env: dict | None) -> Kernel | None:
    """A kernel from the pool of that name, launched with that environment (and now no
    longer in the pool), or None."""
    waiting = _pooled.get()
    found = next((k for k in waiting or [] if k.name == name and k.env == env), None)
    if found is not None:
        waiting.remove(found)
    return found


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
            kernel.boot_ms = ms_since(max(kernel.launched_at, t0))


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
    envs: list[dict | None] | None = None,
    timeout: float = BOOT_TIMEOUT,
    keep_failed: bool = False,
    wait: bool = True,
    transport_encryption: str | None = None,
) -> Iterator[list[Kernel]]:
    """Start kernels by kernelspec name, all at once; shut every one down on exit.

    Each may get its own environment (envs[i], else kij's own). All processes are
    spawned first, then waited on, so the boots overlap and the whole takes about as
    long as the slowest kernel. Inside a `pool`, kernels it launched ahead are taken
    instead (and the pool shuts them down). With keep_failed, a kernel that dies or
    never answers is returned with `boot_error` set instead of raising. With
    wait=False the kernels come back still booting, for a caller with its own work
    to do first: it calls `ready(kernels)` before talking to them. transport_encryption
    asks jupyter_client for CurveZMQ (see _launch); such kernels are never the pool's.
    """
    wanted = list(zip(names, envs or [None] * len(names)))
    taken = [_take(name, env) if transport_encryption is None else None for name, env in wanted]
    with _launched([w for w, k in zip(wanted, taken) if k is None], transport_encryption) as fresh:
        spawned = iter(fresh)
        kernels = [k if k is not None else next(spawned) for k in taken]
        if wait:
            ready(kernels, timeout, keep_failed)
        yield kernels


def shutdown(kernels: list[Kernel]) -> None:
    """Shut down the kernels kij started (all at once) and remove their connection files.

    What jupyter_client's shutdown_kernel does for one kernel, done for all of them
    side by side, so the whole costs one kernel's wait, not the sum: shutdown_request
    to every one; then, for those still running after half of SHUTDOWN_WAIT, SIGTERM;
    after the other half, SIGKILL. kij's own sockets close first, all together too.
    Attached kernels only lose our sockets. Signals are
    held back meanwhile, so a second Ctrl-C cannot leave a process behind.
    """
    owned = [k for k in kernels if k.owned]
    interrupted = isinstance(sys.exc_info()[1], (KeyboardInterrupt, Terminated))
    saying = stop_indicator([k.name for k in owned]) if owned and interrupted else contextlib.nullcontext()
    with signals_deferred(), saying:
        children = _children(owned)
        _stop_channels([k.client for k in kernels if k.client is not None])
        for k in owned:
            with contextlib.suppress(Exception):
                if k.manager.is_alive():
                    k.manager.request_shutdown()
        running = _still_running(owned, SHUTDOWN_WAIT / 2)
        for k in running:
            with contextlib.suppress(Exception):
                k.manager.signal_kernel(signal.SIGTERM)
        for k in _still_running(running, SHUTDOWN_WAIT / 2):
            with contextlib.suppress(Exception):
                k.manager._kill_kernel()
        for k in owned:
            with contextlib.suppress(Exception):
                k.manager.finish_shutdown()  # every process has exited: this reaps it at once
            _cleanup_manager(k.manager)
            with contextlib.suppress(Exception):
                os.unlink(k.manager.connection_file)
        for k in kernels:
            if k._log_file is not None:
                k._log_file.close()
        # What the kernels started go with them: bash_kernel's bash (it ends a moment
        # after its kernel, once its pty closes), a cell's own subprocesses.
        processes.reap(children, wait=CHILDREN_WAIT)


CHILDREN_WAIT = 2.0  # seconds a kernel's own children get to end after it, before SIGKILL


def _children(kernels: list[Kernel]) -> list:
    """Every process these kernels started (and those started), as it stands now. Only
    of a kernel still running: a dead one's PID may already belong to someone else."""
    return [child for k in kernels if k.is_alive() for child in processes.tree([k.pid])[1:]]


def _stop_channels(clients: list) -> None:
    """Close these clients' sockets side by side: each one's heartbeat thread may take
    up to a poll interval (a second, on a dead kernel) to notice it must stop."""

    def stop(client) -> None:
        # Channel by channel, so one that fails to stop cannot leave the heartbeat thread
        # running on a context about to be destroyed; only channels that exist.
        for name in ("_shell_channel", "_iopub_channel", "_stdin_channel", "_control_channel", "_hb_channel"):
            channel = getattr(client, name, None)
            if channel is not None:
                with contextlib.suppress(Exception):
                    channel.stop()
        with contextlib.suppress(Exception):
            client.stop_channels()  # and the client's own context, if it made one

    stopping = [threading.Thread(target=stop, args=(client,), daemon=True) for client in clients]
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join()


def _still_running(kernels: list[Kernel], seconds: float) -> list[Kernel]:
    """Wait — up to `seconds` for all of them together — for these kernels' processes to
    exit; return the ones still running."""
    deadline = time.monotonic() + seconds
    for k in kernels:
        process = getattr(k.manager.provisioner, "process", None)
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
    running = []
    for k in kernels:
        with contextlib.suppress(Exception):
            if k.manager.is_alive():
                running.append(k)
    return running


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
    from kij.client import Client

    info = read_connection_file(connection_file)
    client = Client()
    client.load_connection_info(info)
    client.start_channels()
    kernel = Kernel("attached", client=client, connection_file=str(connection_file))
    try:
        try:
            kernel.request(_control_kernel_info(client), "kernel_info_reply", 10.0, channel="control")
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
