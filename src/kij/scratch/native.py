"""A whole Jupyter kernel in one file: pyzmq and the standard library, nothing else.

This is the from-scratch kernel: no ipykernel, no jupyter_client. Read it top to
bottom and you have read every moving part a Jupyter frontend talks to:

1. the connection file names five ports and an HMAC key;
2. the kernel binds five ZeroMQ sockets on them —
   shell (ROUTER) and control (ROUTER) for requests, stdin (ROUTER) for input(),
   iopub (XPUB: a PUB that also hears subscriptions) to broadcast outputs and
   busy/idle, hb (REP) to echo heartbeats;
3. every message is a list of frames: the sender's identities, the delimiter
   ``<IDS|MSG>``, an HMAC signature, then four JSON dicts — header, parent_header,
   metadata, content — and optional binary buffers;
4. every incoming signature is checked (and remembered, so a replay is refused)
   before anything in the message is believed;
5. each request is answered on the socket it came in on, wrapped in
   ``status: busy`` / ``status: idle`` on iopub.

Where a frontend can tell, it behaves like ipykernel:

- after a cell fails, the execute_requests already queued behind it are answered
  ``status: aborted`` (unless the failed request said ``stop_on_error: false``);
- printed output is batched into stream messages every 0.2 s and at the end of
  the cell, partial lines included; iopub has no high-water mark, so a subscriber
  slow to read loses nothing;
- a cell ending in ``;`` shows no result; ``name?`` opens the pager; cells get
  ``display()`` and ``clear_output()``;
- ``exit`` sends the ``ask_exit`` payload (the frontend ends the session) and the
  kernel ends; it also ends when the process that started it (``JPY_PARENT_PID``)
  dies.

One thing ipykernel does not do: the first shell request waits (up to
SUBSCRIBER_WAIT) until a frontend has subscribed to iopub, so a frontend that asks
at once does not lose its busy/idle (see await_first_subscriber).

It is not IPython: no magics, no ``!`` shell escapes, plain-text tracebacks, and
output written below Python (a subprocess, ``os.write(1, ...)``) is not captured.

Five threads: the main thread reads shell and runs code (so that SIGINT, which
Python delivers to the main thread, can interrupt it); a control thread answers
control requests even while code runs; a heartbeat thread echoes pings; a stream
thread flushes printed text; a watcher exits if the parent process dies.

The file reads in this order: the signer; the sockets and the wire; the serve loop
and its threads; one dispatch that wraps every request in busy/idle; the handlers,
named after their message types (execute_request first); interrupts, all in one
section; what a cell is given (sys.stdout/sys.stderr, exit); the pure helpers; the
entry point.

kij's ``wire`` module is the project's one copy of the signing code; this file
keeps its own tiny copy (``Signer`` below) so that it stands alone and a learner
can follow it without opening anything else.

Run it the way Jupyter does:  python -m kij.scratch.native -f kernel-1234.json
"""

from __future__ import annotations

import argparse
import ast
import builtins
import codeop
import contextlib
import datetime
import fnmatch
import hmac
import inspect
import io
import json
import keyword
import linecache
import os
import platform
import re
import signal
import sys
import threading
import time
import tokenize
import traceback
import uuid
import warnings

import zmq

PROTOCOL_VERSION = "5.3"
DELIM = b"<IDS|MSG>"
HISTORY_SESSION = 1  # this kernel keeps one in-memory history session
FLUSH_INTERVAL = 0.2  # seconds between stream messages while a cell prints (ipykernel's too)
PARENT_POLL_INTERVAL = 1.0  # seconds between checks that the parent process is alive
SUBSCRIBER_WAIT = 2.0  # seconds the first shell request waits for someone subscribed to iopub

SHELL_REQUESTS = ("execute_request", "kernel_info_request", "complete_request", "inspect_request",
                  "is_complete_request", "history_request", "comm_info_request", "shutdown_request")
CONTROL_REQUESTS = ("kernel_info_request", "interrupt_request", "shutdown_request")


def log(text: str) -> None:
    """The kernel's own log line, on the real stderr (user code's stderr is redirected)."""
    print(f"[kij-native] {text}", file=sys.__stderr__, flush=True)


# ---------------------------------------------------------------- 1. the signer


class Signer:
    """HMAC sign and verify, with memory of every signature seen (replays are refused)."""

    def __init__(self, key: bytes, scheme: str = "hmac-sha256"):
        self.key = key
        self.digest = scheme.removeprefix("hmac-")  # e.g. "sha256"
        self.seen: set[bytes] = set()
        self.lock = threading.Lock()  # shell, control and stdin are read on different threads

    def sign(self, parts: list[bytes]) -> bytes:
        if not self.key:
            return b""  # an empty key means "no authentication"
        mac = hmac.new(self.key, digestmod=self.digest)
        for part in parts:  # header, parent_header, metadata, content
            mac.update(part)
        return mac.hexdigest().encode()

    def verify(self, signature: bytes, parts: list[bytes]) -> str | None:
        """None if the message may be believed, otherwise why not."""
        if not self.key:
            return None
        if not hmac.compare_digest(signature, self.sign(parts)):
            return "bad signature"
        with self.lock:
            if signature in self.seen:
                return "replayed signature"
            self.seen.add(signature)
        return None


# ---------------------------------------------------------------- 2. the sockets and the wire


class Kernel:
    def __init__(self, connection: dict):
        self.signer = Signer(connection["key"].encode(), connection.get("signature_scheme", "hmac-sha256"))
        self.session = uuid.uuid4().hex
        self.context = zmq.Context()
        self.shell = self.bind(connection, "shell", zmq.ROUTER)
        self.control = self.bind(connection, "control", zmq.ROUTER)
        self.stdin = self.bind(connection, "stdin", zmq.ROUTER)
        self.iopub = self.bind(connection, "iopub", zmq.XPUB)
        self.iopub.sndhwm = 0  # no high-water mark: a PUB socket at its mark drops messages silently
        self.subscribed = False  # has a subscription reached iopub yet?
        self.first_request = True  # the first shell request waits for a subscriber; later ones do not
        self.hb = self.bind(connection, "hb", zmq.REP)
        self.iopub_lock = threading.Lock()  # zmq sockets are not thread-safe; three threads publish
        self.stopped = threading.Event()  # set once shutdown begins: the helper threads end
        self.stdout, self.stderr = Stream(self, "stdout"), Stream(self, "stderr")
        self.namespace: dict = {"__name__": "__main__", "__builtins__": builtins,
                                "display": self.display, "clear_output": self.clear_output,
                                "exit": ExitAutocall(self), "quit": ExitAutocall(self)}
        self.execution_count = 0
        self.history: list[tuple[int, int, str, str | None]] = []  # (session, line, input, output)
        self.parent: dict = {}  # the execute_request being run, for stream/display messages
        self.payload: list[dict] = []  # what the running cell asks of the frontend (ask_exit)
        self.queued_behind_error: list[list[bytes]] = []  # shell requests waiting when a cell failed
        self.aborting = False  # True while those are answered: their execute_requests are aborted
        self.stopping = False
        self.executing = False  # SIGINT raises KeyboardInterrupt only while user code runs
        self.sending = False  # ...and never half-way through a multipart send
        self.interrupt_pending = False

    def bind(self, connection: dict, channel: str, kind: int) -> zmq.Socket:
        socket = self.context.socket(kind)
        socket.linger = 1000  # on close, give queued replies a second to leave
        port = connection[f"{channel}_port"]
        if connection.get("transport", "tcp") == "ipc":
            socket.bind(f"ipc://{connection['ip']}-{port}")
        else:
            socket.bind(f"tcp://{connection['ip']}:{port}")
        return socket

    def parse(self, frames: list[bytes], channel: str) -> dict | None:
        """Frames → message dict, or None (and a log line) if it must not be believed."""
        if DELIM not in frames:
            log(f"rejected on {channel}: no {DELIM.decode()} delimiter")
            return None
        i = frames.index(DELIM)
        identities, rest = frames[:i], frames[i + 1 :]
        if len(rest) < 5:
            log(f"rejected on {channel}: {len(rest)} frames after the delimiter, need 5")
            return None
        signature, parts, buffers = rest[0], rest[1:5], rest[5:]
        problem = self.signer.verify(signature, parts)
        if problem:
            log(f"rejected on {channel}: {problem}")
            return None
        try:
            header, parent_header, metadata, content = [json.loads(p) for p in parts]
        except (ValueError, RecursionError):
            log(f"rejected on {channel}: a part is not JSON")
            return None
        if not all(isinstance(d, dict) for d in (header, parent_header, metadata, content)):
            log(f"rejected on {channel}: a part is not a JSON object")
            return None
        if not isinstance(header.get("msg_type"), str):
            log(f"rejected on {channel}: header has no msg_type")
            return None
        return {"identities": identities, "header": header, "parent_header": parent_header,
                "metadata": metadata, "content": content, "buffers": buffers}

    def serialize(self, msg_type: str, content: dict, parent: dict) -> list[bytes]:
        """A new message as its four signed parts: header, parent_header, metadata, content."""
        header = {
            "msg_id": uuid.uuid4().hex,
            "session": self.session,
            "username": "kernel",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "msg_type": msg_type,
            "version": PROTOCOL_VERSION,
        }
        parts = [json.dumps(d, default=repr).encode() for d in (header, parent.get("header", {}), {}, content)]
        return [self.signer.sign(parts), *parts]

    def send(self, socket: zmq.Socket, msg_type: str, content: dict, parent: dict) -> None:
        """A reply (or input_request) goes back to whoever sent parent: its identities lead the frames."""
        frames = [*parent.get("identities", []), DELIM, *self.serialize(msg_type, content, parent)]
        with self.interrupts_deferred():
            socket.send_multipart(frames)

    def publish(self, msg_type: str, content: dict, parent: dict) -> None:
        """Broadcast on iopub; the topic frame is just the message type."""
        frames = [msg_type.encode(), DELIM, *self.serialize(msg_type, content, parent)]
        with self.interrupts_deferred(), self.iopub_lock:
            if self.iopub is not None:
                self.read_subscriptions(0)
                self.iopub.send_multipart(frames)

    def read_subscriptions(self, wait: float) -> None:
        """Take the (un)subscriptions that reached iopub off the socket, waiting up to
        `wait` seconds for the first. Call with iopub_lock held."""
        while self.iopub.poll(int(wait * 1000)):
            if self.iopub.recv()[:1] == b"\x01":  # b"\x01" + topic subscribes, b"\x00" + topic leaves
                self.subscribed = True
            wait = 0

    def await_first_subscriber(self) -> None:
        """Before the first shell request: wait, up to SUBSCRIBER_WAIT, for a subscription.

        A SUB socket's subscription reaches the kernel a moment after it connects; until
        then, what iopub sends is dropped for it (ZeroMQ's "slow joiner"). jupyter console
        sends a cell as soon as kernel_info is answered and then waits for that cell's
        `status: idle`: lost, it waits forever. An XPUB hears subscriptions, so the kernel
        can wait for one instead of guessing. (ipykernel's iopub is an XPUB too; it greets
        each new subscriber with an `iopub_welcome` message.)"""
        deadline = time.monotonic() + SUBSCRIBER_WAIT
        with self.iopub_lock:
            while not self.subscribed and (left := deadline - time.monotonic()) > 0:
                self.read_subscriptions(left)

    # ------------------------------------------------------------ 3. the serve loop and its threads

    def serve(self) -> None:
        """Main thread: read shell and run code. Helper threads: control, heartbeat, streams, parent."""
        helpers = [self.serve_control, self.heartbeat, self.flush_streams_periodically, self.watch_parent]
        threads = [threading.Thread(target=target, daemon=True) for target in helpers]
        with self.sigint_for_main_thread_only():
            for thread in threads:
                thread.start()
        sys.stdout, sys.stderr = self.stdout, self.stderr  # print() → stream messages, from now on
        log("ready")
        try:
            while True:
                frames = self.shell.recv_multipart()
                if self.first_request:
                    self.await_first_subscriber()
                    self.first_request = False
                self.dispatch(self.shell, frames, "shell", SHELL_REQUESTS)
                if self.queued_behind_error:
                    self.abort_queued_executes()
        except zmq.ContextTerminated:
            pass
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            self.stopped.set()
            with self.iopub_lock:
                self.iopub.close()
                self.iopub = None
            self.shell.close()
            self.stdin.close()
        for thread in threads:
            thread.join(timeout=2)
        log("shut down")

    def abort_queued_executes(self) -> None:
        """A cell failed: the execute_requests that were waiting behind it are answered 'aborted'.

        ipykernel does the same, so that a notebook's "Run All" stops at the first
        error. Other requests among them are answered normally, and requests sent
        after the failure was reported run normally again."""
        queued, self.queued_behind_error = self.queued_behind_error, []
        self.aborting = True
        try:
            for frames in queued:
                self.dispatch(self.shell, frames, "shell", SHELL_REQUESTS)
        finally:
            self.aborting = False

    def serve_control(self) -> None:
        try:
            while True:
                self.dispatch(self.control, self.control.recv_multipart(), "control", CONTROL_REQUESTS)
        except zmq.ContextTerminated:
            self.control.close()

    def heartbeat(self) -> None:
        try:
            while True:
                self.hb.send_multipart(self.hb.recv_multipart())  # ping → the same bytes back
        except zmq.ContextTerminated:
            self.hb.close()

    def flush_streams_periodically(self) -> None:
        """Printed text waits in a buffer; every FLUSH_INTERVAL it leaves as one stream message."""
        try:
            while not self.stopped.wait(FLUSH_INTERVAL):
                self.stdout.flush()
                self.stderr.flush()
        except zmq.ContextTerminated:
            pass  # shutting down: iopub is closing

    def watch_parent(self) -> None:
        """Exit when the process that started us dies, as ipykernel does (JPY_PARENT_PID)."""
        try:
            parent_pid = int(os.environ.get("JPY_PARENT_PID", "0"))
        except ValueError:
            parent_pid = 0
        if parent_pid != os.getppid():
            parent_pid = 0  # not our parent after all: watch only for being orphaned (parent → 1)
        while not self.stopped.wait(PARENT_POLL_INTERVAL):
            ppid = os.getppid()
            if (parent_pid and ppid != parent_pid) or (not parent_pid and ppid == 1):
                log("the parent process has died: exiting")
                os._exit(1)

    # ------------------------------------------------------------ 4. dispatch

    def dispatch(self, socket: zmq.Socket, frames: list[bytes], channel: str, requests: tuple[str, ...]) -> None:
        """One request: verify it, publish busy, run its handler, reply, publish idle."""
        msg = self.parse(frames, channel)
        if msg is None:
            return
        msg_type = msg["header"]["msg_type"]
        if msg_type not in requests:
            log(f"ignored on {channel}: no handler for {msg_type!r}")
            return
        reply_type = msg_type.replace("_request", "_reply")
        self.publish("status", {"execution_state": "busy"}, msg)
        try:
            if self.aborting and msg_type == "execute_request":
                content = {"status": "aborted"}
            else:
                content = getattr(self, msg_type)(msg["content"], msg)
            self.send(socket, reply_type, content, msg)
        except zmq.ContextTerminated:
            raise
        except Exception:  # a malformed request must never take the kernel down
            log(f"failed on {channel} handling {msg_type}:\n{traceback.format_exc()}")
            content = {"status": "error", "ename": "KernelError", "evalue": f"could not handle {msg_type}", "traceback": []}
            self.send(socket, reply_type, content, msg)
        finally:
            self.publish("status", {"execution_state": "idle"}, msg)
        if self.stopping:
            # ZeroMQ's way to stop every thread: terminating the context makes each
            # blocked recv raise ContextTerminated; each thread then closes its socket.
            self.stopped.set()
            threading.Thread(target=self.context.term).start()

    # ------------------------------------------------------------ 5. the handlers
    # Each is named after the request it answers, takes (content, msg) and returns the reply's content.

    def execute_request(self, content: dict, msg: dict) -> dict:
        code = str(content.get("code", ""))
        silent = bool(content.get("silent", False))
        store_history = bool(content.get("store_history", not silent)) and not silent
        if store_history:  # only stored cells are counted (In[n]); a silent one is not even announced
            self.execution_count += 1
        count = self.execution_count
        if not silent:
            self.publish("execute_input", {"code": code, "execution_count": count}, msg)
        self.parent, self.payload = msg, []
        try:
            with self.user_code_running(bool(content.get("allow_stdin", False))):
                value = self.run(code, f"<cell {count}>")
        except BaseException as error:  # KeyboardInterrupt included: the kernel lives on
            failure = describe_error(error)
            self.publish("error", failure, msg)
            self.remember(store_history, count, code, None)
            if not silent and content.get("stop_on_error", True):
                while self.shell.poll(0):  # taken off the socket before our reply can prompt more
                    self.queued_behind_error.append(self.shell.recv_multipart())
            return {"status": "error", "execution_count": count, **failure}
        output = None
        if value is not None and not silent and not ends_with_semicolon(code):  # `x;` hides Out[n], as in IPython
            self.namespace["_"] = value
            data = mimebundle(value)
            output = data["text/plain"]
            self.publish("execute_result", {"execution_count": count, "data": data, "metadata": {}}, msg)
        self.remember(store_history, count, code, output)
        return {"status": "ok", "execution_count": count, "payload": self.payload,
                "user_expressions": self.user_expressions(content.get("user_expressions") or {})}

    def kernel_info_request(self, content: dict, msg: dict) -> dict:
        return {
            "status": "ok",
            "protocol_version": PROTOCOL_VERSION,
            "implementation": "kij-native",
            "implementation_version": "0.1.0",
            "language_info": {
                "name": "python",
                "version": platform.python_version(),
                "mimetype": "text/x-python",
                "file_extension": ".py",
                "pygments_lexer": "python3",
                "codemirror_mode": {"name": "python", "version": 3},
                "nbconvert_exporter": "python",
            },
            "banner": f"kij native kernel (from scratch) — Python {platform.python_version()}",
            "help_links": [],
            "supported_features": [],  # no debugger, no subshells
        }

    def complete_request(self, content: dict, msg: dict) -> dict:
        code = content.get("code", "")
        cursor = content.get("cursor_pos")
        cursor = len(code) if cursor is None else cursor
        token = re.search(r"[\w.]*$", code[:cursor]).group()
        base, dot, prefix = token.rpartition(".")
        if dot:
            names = dir(self.lookup(base))
        else:
            names = [*self.namespace, *dir(builtins), *keyword.kwlist]
        matches = sorted({n for n in names if n.startswith(prefix)})
        if not prefix.startswith("_"):
            matches = [m for m in matches if not m.startswith("_")]
        return {"status": "ok", "matches": matches, "cursor_start": cursor - len(prefix),
                "cursor_end": cursor, "metadata": {}}

    def inspect_request(self, content: dict, msg: dict) -> dict:
        code = content.get("code", "")
        cursor = content.get("cursor_pos")
        cursor = len(code) if cursor is None else cursor
        name = name_at(code, cursor)
        obj = self.lookup(name) if name else MISSING
        if obj is MISSING:
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        text = describe(name, obj, content.get("detail_level", 0))
        return {"status": "ok", "found": True, "data": {"text/plain": text}, "metadata": {}}

    def is_complete_request(self, content: dict, msg: dict) -> dict:
        return completeness(content.get("code", ""))

    def history_request(self, content: dict, msg: dict) -> dict:
        entries = self.history
        kind = content.get("hist_access_type")
        if kind == "range":
            start, stop = content.get("start") or 0, content.get("stop")
            entries = [e for e in entries if e[1] >= start and (stop is None or e[1] < stop)]
        elif kind == "search":
            pattern = content.get("pattern") or "*"
            entries = [e for e in entries if fnmatch.fnmatch(e[2], pattern)]
            if content.get("unique"):
                seen: set[str] = set()
                entries = [e for e in reversed(entries) if not (e[2] in seen or seen.add(e[2]))][::-1]
        n = content.get("n")
        if kind in ("tail", "search") and n:
            entries = entries[-n:]
        if content.get("output"):
            history = [[s, line, [source, out]] for s, line, source, out in entries]
        else:
            history = [[s, line, source] for s, line, source, _ in entries]
        return {"status": "ok", "history": history}

    def comm_info_request(self, content: dict, msg: dict) -> dict:
        return {"status": "ok", "comms": {}}  # this kernel opens no comms

    def shutdown_request(self, content: dict, msg: dict) -> dict:
        self.stopping = True  # acted on once this reply and status: idle are out
        return {"status": "ok", "restart": bool(content.get("restart", False))}

    # ------------------------------------------------------------ what execute_request needs

    @contextlib.contextmanager
    def user_code_running(self, allow_stdin: bool):
        """While user code runs: input() → stdin socket, SIGINT → KeyboardInterrupt; at the end, flush."""
        saved_input = builtins.input
        builtins.input = self.input if allow_stdin else no_input
        self.executing = True
        try:
            yield
        finally:
            self.executing = False
            builtins.input = saved_input
            self.stdout.flush()  # every printed character leaves before the reply and idle
            self.stderr.flush()

    def run(self, code: str, filename: str):
        """The cell's value; `name?` shows the pager, a bare `exit` is called (as IPython's autocall does)."""
        asked = page_request(code)
        if asked:
            self.payload.append(self.page(*asked))
            return None
        value = run_cell(code, self.namespace, filename)
        if isinstance(value, ExitAutocall):
            return value()
        return value

    def input(self, prompt: str = "") -> str:
        """input() for user code: ask the frontend over the stdin socket and wait for its reply."""
        self.stdout.flush()
        self.stderr.flush()
        while self.stdin.poll(0):  # a stale reply (to an interrupted input) must not answer this one
            self.stdin.recv_multipart()
        self.send(self.stdin, "input_request", {"prompt": str(prompt), "password": False}, self.parent)
        try:
            while True:
                reply = self.parse(self.stdin.recv_multipart(), "stdin")
                if reply and reply["header"]["msg_type"] == "input_reply":
                    break
        except KeyboardInterrupt:
            raise KeyboardInterrupt("Interrupted by user") from None  # ipykernel's words
        value = reply["content"].get("value", "")
        if value == "\x04":  # Ctrl-D in the frontend
            raise EOFError
        return str(value)

    def display(self, *objects, clear: bool = False) -> None:
        """display() in a cell: each object as a display_data message (IPython's display, in brief)."""
        if clear:
            self.clear_output(wait=True)
        for obj in objects:
            self.output("display_data", {"data": mimebundle(obj), "metadata": {}, "transient": {}})

    def clear_output(self, wait: bool = False) -> None:
        self.output("clear_output", {"wait": bool(wait)})

    def output(self, msg_type: str, content: dict) -> None:
        """Publish an output of the running cell, after the text it printed before it."""
        self.stdout.flush()
        self.stderr.flush()
        self.publish(msg_type, content, self.parent)

    def page(self, name: str, detail_level: int) -> dict:
        obj = self.lookup(name)
        text = describe(name, obj, detail_level) if obj is not MISSING else f"Object `{name}` not found."
        return {"source": "page", "data": {"text/plain": text}, "start": 0}

    def user_expressions(self, expressions: dict) -> dict:
        results = {}
        for name, source in expressions.items():
            try:
                value = eval(source, self.namespace)
                results[name] = {"status": "ok", "data": mimebundle(value), "metadata": {}}
            except Exception as error:
                results[name] = {"status": "error", **describe_error(error)}
        return results

    def lookup(self, dotted: str):
        """The object a dotted name refers to in the user's namespace, or MISSING."""
        first, *rest = dotted.split(".")
        obj = self.namespace.get(first, getattr(builtins, first, MISSING))
        for attribute in rest:
            if obj is MISSING:
                break
            try:
                obj = getattr(obj, attribute)
            except Exception:
                return MISSING
        return obj

    def remember(self, store_history: bool, count: int, code: str, output: str | None) -> None:
        if store_history:
            self.history.append((HISTORY_SESSION, count, code, output))

    # ------------------------------------------------------------ 6. interrupts
    # A frontend interrupts either by signal (SIGINT to our process group, the kernelspec's
    # interrupt_mode "signal") or by an interrupt_request on control. Both end here: the
    # main thread, which runs user code, gets a KeyboardInterrupt — but only while user
    # code runs, and never half-way through sending a multipart message.

    def interrupt_request(self, content: dict, msg: dict) -> dict:
        os.kill(os.getpid(), signal.SIGINT)  # the same path as a signal-mode interrupt
        return {"status": "ok"}

    def on_sigint(self, signum, frame) -> None:
        if not self.executing:
            log("SIGINT with nothing running: ignored")
        elif self.sending:
            self.interrupt_pending = True  # raised as soon as the frames are out
        else:
            raise KeyboardInterrupt  # describe_error leaves this frame out of the traceback

    @contextlib.contextmanager
    def interrupts_deferred(self):
        """On the main thread, a SIGINT arriving inside this block is raised when it ends."""
        if threading.current_thread() is not threading.main_thread():
            yield  # SIGINT only ever lands in the main thread
            return
        self.sending = True
        try:
            yield
        finally:
            self.sending = False
        if self.interrupt_pending:
            self.interrupt_pending = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def sigint_for_main_thread_only(self):
        """Threads started inside this block never take SIGINT; the main thread handles it.

        A signal sent to a process may be handed to any of its threads that does not
        block it; a SIGINT taken by the heartbeat thread would leave the main thread
        asleep in user code. A thread inherits its creator's signal mask, so helper
        threads are born with SIGINT blocked, and only the main thread hears it."""
        signal.signal(signal.SIGINT, self.on_sigint)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


# ---------------------------------------------------------------- 7. what a cell is given: print() and exit


class Stream:
    """sys.stdout / sys.stderr: text waits in a buffer and leaves as one stream message per flush.

    The kernel flushes every FLUSH_INTERVAL from a helper thread (so a progress bar
    without a newline still shows while the cell runs) and at the end of each cell.
    One message per print() would flood iopub: 20,000 prints would be 20,000 messages."""

    def __init__(self, kernel: Kernel, name: str):
        self.kernel, self.name = kernel, name
        self.buffer: list[str] = []
        self.lock = threading.Lock()  # write() from any thread, flush() from two

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.buffer.append(text)  # list.append is atomic: no lock needed to write
        return len(text)

    def flush(self) -> None:
        with self.lock:  # take and publish under one lock, so two flushes cannot swap order
            taken = len(self.buffer)
            text = "".join(self.buffer[:taken])
            del self.buffer[:taken]
            if text:
                self.kernel.publish("stream", {"name": self.name, "text": text}, self.kernel.parent)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return "utf-8"


class ExitAutocall:
    """`exit` / `quit` in a cell: ask the frontend to end the session (the ask_exit payload) and end."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel

    def __call__(self, keep_kernel: bool = False) -> None:
        self.kernel.payload.append({"source": "ask_exit", "keepkernel": bool(keep_kernel)})
        self.kernel.stopping = not keep_kernel  # like ipykernel, end once the reply is out

    def __repr__(self) -> str:
        return "Use exit() or Ctrl-D (i.e. EOF) to exit"


# ---------------------------------------------------------------- 8. pure helpers

MISSING = object()


def run_cell(code: str, namespace: dict, filename: str):
    """Run statements, then evaluate a trailing expression and return its value (else None)."""
    code = without_leading_indent(code)
    tree = ast.parse(code, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)  # for tracebacks
    exec(compile(tree, filename, "exec"), namespace)
    if last is not None:
        return eval(compile(last, filename, "eval"), namespace)
    return None


def describe_error(error: BaseException) -> dict:
    """ename / evalue / traceback, with this file's own frames left out (the user's code is the story)."""
    frames = [] if isinstance(error, SyntaxError) else traceback.extract_tb(error.__traceback__)
    frames = [frame for frame in frames if frame.filename != __file__]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
    lines += traceback.format_exception_only(type(error), error)
    return {"ename": type(error).__name__, "evalue": str(error), "traceback": [line.rstrip("\n") for line in lines]}


def mimebundle(value) -> dict:
    """The display protocol: text/plain from repr, richer types from _repr_*_ methods."""
    data = {"text/plain": repr(value)}
    for mime, method in (("text/html", "_repr_html_"), ("text/markdown", "_repr_markdown_"),
                         ("text/latex", "_repr_latex_"), ("image/svg+xml", "_repr_svg_")):
        rendered = getattr(value, method, None)
        if callable(rendered) and not isinstance(value, type):
            try:
                text = rendered()
            except Exception:
                continue
            if isinstance(text, str):
                data[mime] = text
    return data


def ends_with_semicolon(code: str) -> bool:
    """Whether the cell's last token (comments aside) is `;`."""
    skip = (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.DEDENT, tokenize.ENDMARKER)
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type not in skip]
    except (tokenize.TokenError, SyntaxError):
        return False
    return bool(tokens) and tokens[-1].string == ";"


def no_input(prompt: str = "") -> str:
    raise StdinNotImplementedError("raw_input was called, but this frontend does not support input requests.")


class StdinNotImplementedError(RuntimeError):
    """input() when the request said allow_stdin: false (the name and message are ipykernel's)."""


def page_request(code: str) -> tuple[str, int] | None:
    """`name?` (or `name??` for more detail) asks for the pager, as in IPython."""
    match = re.fullmatch(r"\s*([A-Za-z_][\w.]*)(\?\??)\s*", code)
    return (match.group(1), len(match.group(2)) - 1) if match else None


def name_at(code: str, cursor: int) -> str:
    """The dotted name under the cursor, or the function whose call the cursor is in."""
    before = re.search(r"[\w.]*$", code[:cursor]).group()
    after = re.match(r"\w*", code[cursor:]).group()
    name = (before + after).strip(".")
    if not name:
        call = re.search(r"([\w.]+)\([^()]*$", code[:cursor])
        name = call.group(1) if call else ""
    return name


def describe(name: str, obj, detail_level: int) -> str:
    lines = [f"{name}: {type(obj).__name__}"]
    try:
        lines.append(f"Signature: {name}{inspect.signature(obj)}")
    except (TypeError, ValueError):
        pass
    lines.append(inspect.getdoc(obj) or "(no docstring)")
    if detail_level:
        try:
            lines.append(inspect.getsource(obj))
        except (OSError, TypeError):
            pass
    return "\n".join(lines)


def completeness(code: str) -> dict:
    """is_complete, decided the way IPython decides it: from the tokens, then the real parser.

    - a trailing backslash, an open bracket or an open triple-quoted string: incomplete;
    - a last line ending in ':' opens a block: incomplete, indented one level more;
    - code the parser rejects is invalid, code it wants more of is incomplete;
    - a last statement inside an indented block (`for ...:\\n    x`) is complete only
      once a newline ends it — a continuation line inside brackets is not a block;
    - `name?` is the pager, which this kernel runs: complete."""
    if not isinstance(code, str):
        return {"status": "invalid"}
    if page_request(code):
        return {"status": "complete"}
    code = without_leading_indent(code)
    ends_with_newline = code.rstrip(" \t\f").endswith("\n")
    source = code if ends_with_newline else code + "\n"
    lines = source.splitlines(keepends=True)
    if not lines:
        return {"status": "complete"}
    last_line = next((line for line in reversed(lines) if line.strip()), "")
    if last_line.rstrip("\n").endswith("\\"):
        return incomplete(lines)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except tokenize.TokenError:  # EOF inside brackets or a string — or a bracket closed too often
        return {"status": "invalid"} if parser_says(source) == "invalid" else incomplete(lines)
    except (SyntaxError, ValueError):  # e.g. an unindent that matches no outer level
        return {"status": "invalid"}
    significant = [t for t in tokens if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT,
                                                       tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)]
    if not significant:
        return {"status": "complete"}
    last = significant[-1]
    if last.string == ":" and last.type == tokenize.OP:  # the block's first line is still to come
        return {"status": "incomplete", "indent": " " * (statement_indent(tokens) + 4)}
    verdict = parser_says(source)
    if verdict == "invalid":
        return {"status": "invalid"}
    if verdict == "incomplete":
        return incomplete(lines)
    block_open = any(t.type == tokenize.DEDENT for t in tokens[tokens.index(last):])
    if block_open and not ends_with_newline:
        return incomplete(lines)
    return {"status": "complete"}


def parser_says(source: str) -> str:
    """codeop, the standard library's interactive-prompt check: complete, incomplete or invalid."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SyntaxWarning)
            compiled = codeop.compile_command(source, "<cell>", "exec")
    except (SyntaxError, OverflowError, ValueError, TypeError, MemoryError, SyntaxWarning):
        return "invalid"
    return "incomplete" if compiled is None else "complete"


def without_leading_indent(code: str) -> str:
    """A cell pasted with its first line indented runs as if dedented (IPython's rule too)."""
    first = code.split("\n", 1)[0]
    prefix = first[: len(first) - len(first.lstrip(" \t"))]
    if not prefix or not first.strip():
        return code
    return "".join(line[len(prefix):] if line.startswith(prefix) else line for line in code.splitlines(True))


def statement_indent(tokens: list[tokenize.TokenInfo]) -> int:
    """The column where the last logical line starts (a statement may span several physical lines)."""
    newlines = [i for i, t in enumerate(tokens[:-1]) if t.type == tokenize.NEWLINE]
    after = newlines[-2] + 1 if len(newlines) > 1 else 0  # the last NEWLINE ends the last statement itself
    skip = (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)
    return next(t.start[1] for t in tokens[after:] if t.type not in skip)


def incomplete(lines: list[str]) -> dict:
    """The next line starts where the last one did (tabs count as four spaces)."""
    return {"status": "incomplete", "indent": " " * indent_width(lines[-1])}


def indent_width(line: str) -> int:
    return len(line[: len(line) - len(line.lstrip(" \t"))].replace("\t", " " * 4))


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-f", "--connection-file", required=True)
    # jupyter_client appends what it was given after its own options (`jupyter run`
    # passes its file names); ipykernel tolerates such arguments, and so do we.
    args, extra = parser.parse_known_args(argv)
    if extra:
        log(f"ignoring extra arguments: {' '.join(extra)}")
    with open(args.connection_file) as f:
        connection = json.load(f)
    Kernel(connection).serve()


if __name__ == "__main__":
    main()
