"""A whole Jupyter kernel in one file: pyzmq and the standard library, nothing else.

This is the from-scratch kernel: no ipykernel, no jupyter_client. Read it top to
bottom and you have read every moving part a Jupyter frontend talks to:

1. the connection file names five ports and an HMAC key;
2. the kernel binds five ZeroMQ sockets on them —
   shell (ROUTER) and control (ROUTER) for requests, stdin (ROUTER) for input(),
   iopub (PUB) to broadcast outputs and busy/idle, hb (REP) to echo heartbeats;
3. every message is a list of frames: the sender's identities, the delimiter
   ``<IDS|MSG>``, an HMAC signature, then four JSON dicts — header, parent_header,
   metadata, content — and optional binary buffers;
4. every incoming signature is checked (and remembered, so a replay is refused)
   before anything in the message is believed;
5. each request is answered on the socket it came in on, wrapped in
   ``status: busy`` / ``status: idle`` on iopub.

kij's ``wire`` module is the project's one copy of the signing code; this file
keeps its own tiny copy (``Signer`` below) so that it stands alone and a learner
can follow it without opening anything else.

Three threads: the main thread reads shell and runs code (so that SIGINT, which
Python delivers to the main thread, can interrupt it); a control thread answers
control requests even while code runs; a heartbeat thread echoes pings.

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
import json
import keyword
import linecache
import os
import platform
import re
import signal
import sys
import threading
import traceback
import uuid
import warnings

import zmq

PROTOCOL_VERSION = "5.3"
DELIM = b"<IDS|MSG>"
HISTORY_SESSION = 1  # this kernel keeps one in-memory history session


def log(text: str) -> None:
    """The kernel's own log line, on the real stderr (user code's stderr is redirected)."""
    print(f"[kij-native] {text}", file=sys.__stderr__, flush=True)


# ---------------------------------------------------------------- signatures


class Signer:
    """HMAC sign and verify, with memory of every signature seen (replays are refused)."""

    def __init__(self, key: bytes, scheme: str = "hmac-sha256"):
        self.key = key
        self.digest = scheme.removeprefix("hmac-")  # e.g. "sha256"
        self.seen: set[bytes] = set()
        self.lock = threading.Lock()  # shell and control threads both verify

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


# ---------------------------------------------------------------- the kernel


class Kernel:
    def __init__(self, connection: dict):
        self.signer = Signer(connection["key"].encode(), connection.get("signature_scheme", "hmac-sha256"))
        self.session = uuid.uuid4().hex
        self.context = zmq.Context()
        self.shell = self.bind(connection, "shell", zmq.ROUTER)
        self.control = self.bind(connection, "control", zmq.ROUTER)
        self.stdin = self.bind(connection, "stdin", zmq.ROUTER)
        self.iopub = self.bind(connection, "iopub", zmq.PUB)
        self.hb = self.bind(connection, "hb", zmq.REP)
        self.iopub_lock = threading.Lock()  # zmq sockets are not thread-safe; two threads publish
        self.namespace: dict = {"__name__": "__main__", "__builtins__": builtins,
                                "display": self.display, "clear_output": self.clear_output}
        self.execution_count = 0
        self.history: list[tuple[int, int, str, str | None]] = []  # (session, line, input, output)
        self.executing = False  # SIGINT raises KeyboardInterrupt only while user code runs
        self.sending = False  # ...and never half-way through a multipart send
        self.interrupt_pending = False
        self.stopping = False
        self.parent: dict = {}  # the execute_request being run, for stream/display messages

    def bind(self, connection: dict, channel: str, kind: int) -> zmq.Socket:
        socket = self.context.socket(kind)
        socket.linger = 1000  # on close, give queued replies a second to leave
        port = connection[f"{channel}_port"]
        if connection.get("transport", "tcp") == "ipc":
            socket.bind(f"ipc://{connection['ip']}-{port}")
        else:
            socket.bind(f"tcp://{connection['ip']}:{port}")
        return socket

    # ------------------------------------------------------------ the wire

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

    def send(self, socket: zmq.Socket, msg_type: str, content: dict, parent: dict,
             identities: list[bytes] | None = None) -> None:
        header = {
            "msg_id": uuid.uuid4().hex,
            "session": self.session,
            "username": "kernel",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "msg_type": msg_type,
            "version": PROTOCOL_VERSION,
        }
        parent_header = parent.get("header", {})
        parts = [json.dumps(d, default=repr).encode() for d in (header, parent_header, {}, content)]
        if identities is None:  # a reply goes back to whoever asked
            identities = parent.get("identities", [])
        frames = [*identities, DELIM, self.signer.sign(parts), *parts]
        if threading.current_thread() is not threading.main_thread():
            socket.send_multipart(frames)  # SIGINT only ever lands in the main thread
            return
        self.sending = True  # an interrupt now waits until every frame is out
        try:
            socket.send_multipart(frames)
        finally:
            self.sending = False
        if self.interrupt_pending:
            self.interrupt_pending = False
            raise KeyboardInterrupt

    def publish(self, msg_type: str, content: dict, parent: dict) -> None:
        """Broadcast on iopub; the topic frame is just the message type."""
        with self.iopub_lock:
            if self.iopub is not None:
                self.send(self.iopub, msg_type, content, parent, [msg_type.encode()])

    # ------------------------------------------------------------ dispatch

    def handle(self, socket: zmq.Socket, frames: list[bytes], handlers: dict, channel: str) -> None:
        msg = self.parse(frames, channel)
        if msg is None:
            return
        msg_type = msg["header"]["msg_type"]
        handler = handlers.get(msg_type)
        if handler is None:
            log(f"ignored on {channel}: no handler for {msg_type!r}")
            return
        self.publish("status", {"execution_state": "busy"}, msg)
        try:
            reply_type, content = handler(msg["content"], msg)
            self.send(socket, reply_type, content, msg)
        except zmq.ContextTerminated:
            raise
        except Exception:  # a malformed request must never take the kernel down
            log(f"failed on {channel} handling {msg_type}:\n{traceback.format_exc()}")
            content = {"status": "error", "ename": "KernelError", "evalue": f"could not handle {msg_type}", "traceback": []}
            self.send(socket, msg_type.replace("_request", "_reply"), content, msg)
        finally:
            self.publish("status", {"execution_state": "idle"}, msg)
        if self.stopping:
            # ZeroMQ's way to stop every thread: terminating the context makes each
            # blocked recv raise ContextTerminated; each thread then closes its socket.
            threading.Thread(target=self.context.term).start()

    def shell_handlers(self) -> dict:
        return {
            "kernel_info_request": self.kernel_info,
            "execute_request": self.execute,
            "complete_request": self.complete,
            "inspect_request": self.inspect,
            "is_complete_request": self.is_complete,
            "history_request": self.history_request,
            "comm_info_request": self.comm_info,
            "shutdown_request": self.shutdown,
        }

    def control_handlers(self) -> dict:
        return {
            "kernel_info_request": self.kernel_info,
            "interrupt_request": self.interrupt,
            "shutdown_request": self.shutdown,
        }

    # ------------------------------------------------------------ handlers
    # Each takes (content, msg) and returns (reply msg_type, reply content).

    def kernel_info(self, content: dict, msg: dict) -> tuple[str, dict]:
        return "kernel_info_reply", {
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
            "debugger": False,
        }

    def execute(self, content: dict, msg: dict) -> tuple[str, dict]:
        code = content.get("code", "")
        silent = bool(content.get("silent", False))
        store_history = bool(content.get("store_history", True)) and not silent
        if store_history:
            self.execution_count += 1
        count = self.execution_count
        if not silent:
            self.publish("execute_input", {"code": code, "execution_count": count}, msg)
        self.parent = msg
        page = page_request(code)
        try:
            with self.user_code_running(silent, bool(content.get("allow_stdin", False))):
                if page:
                    payload, value = [self.page(*page)], None
                else:
                    payload, value = [], run_cell(code, self.namespace, f"<cell {count}>")
        except BaseException as error:  # KeyboardInterrupt included: the kernel lives on
            if isinstance(error, SystemExit):
                log("user code called exit(); ignored")
            failure = describe_error(error)
            if not silent:
                self.publish("error", failure, msg)
            self.remember(store_history, count, code, None)
            return "execute_reply", {"status": "error", "execution_count": count, **failure}
        output = None
        if value is not None:
            self.namespace["_"] = value
            data = mimebundle(value)
            output = data["text/plain"]
            if not silent:
                self.publish("execute_result", {"execution_count": count, "data": data, "metadata": {}}, msg)
        self.remember(store_history, count, code, output)
        return "execute_reply", {
            "status": "ok",
            "execution_count": count,
            "payload": payload,
            "user_expressions": self.user_expressions(content.get("user_expressions") or {}),
        }

    def complete(self, content: dict, msg: dict) -> tuple[str, dict]:
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
        return "complete_reply", {"status": "ok", "matches": matches, "cursor_start": cursor - len(prefix),
                                  "cursor_end": cursor, "metadata": {}}

    def inspect(self, content: dict, msg: dict) -> tuple[str, dict]:
        code = content.get("code", "")
        cursor = content.get("cursor_pos")
        cursor = len(code) if cursor is None else cursor
        name = name_at(code, cursor)
        obj = self.lookup(name) if name else MISSING
        if obj is MISSING:
            return "inspect_reply", {"status": "ok", "found": False, "data": {}, "metadata": {}}
        text = describe(name, obj, content.get("detail_level", 0))
        return "inspect_reply", {"status": "ok", "found": True, "data": {"text/plain": text}, "metadata": {}}

    def is_complete(self, content: dict, msg: dict) -> tuple[str, dict]:
        return "is_complete_reply", completeness(content.get("code", ""))

    def history_request(self, content: dict, msg: dict) -> tuple[str, dict]:
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
        return "history_reply", {"status": "ok", "history": history}

    def comm_info(self, content: dict, msg: dict) -> tuple[str, dict]:
        return "comm_info_reply", {"status": "ok", "comms": {}}

    def interrupt(self, content: dict, msg: dict) -> tuple[str, dict]:
        os.kill(os.getpid(), signal.SIGINT)  # the same path as a signal-mode interrupt
        return "interrupt_reply", {"status": "ok"}

    def shutdown(self, content: dict, msg: dict) -> tuple[str, dict]:
        self.stopping = True  # acted on once this reply and status: idle are out
        return "shutdown_reply", {"status": "ok", "restart": bool(content.get("restart", False))}

    # ------------------------------------------------------------ running user code

    @contextlib.contextmanager
    def user_code_running(self, silent: bool, allow_stdin: bool):
        """While user code runs: print → stream messages, input() → stdin socket, SIGINT → KeyboardInterrupt."""
        stdout, stderr = Stream(self, "stdout", silent), Stream(self, "stderr", silent)
        saved = sys.stdout, sys.stderr, builtins.input
        sys.stdout, sys.stderr = stdout, stderr
        builtins.input = self.input if allow_stdin else no_input
        self.executing = True
        try:
            yield
        finally:
            self.executing = False
            sys.stdout, sys.stderr, builtins.input = saved
            stdout.flush()
            stderr.flush()

    def on_sigint(self, signum, frame) -> None:
        if not self.executing:
            log("SIGINT with nothing running: ignored")
        elif self.sending:
            self.interrupt_pending = True  # raised as soon as the frames are out
        else:
            raise KeyboardInterrupt

    def input(self, prompt: str = "") -> str:
        """input() for user code: ask the frontend over the stdin socket and wait for its reply."""
        sys.stdout.flush()
        request = {"prompt": str(prompt), "password": False}
        self.send(self.stdin, "input_request", request, self.parent)
        while True:
            reply = self.parse(self.stdin.recv_multipart(), "stdin")
            if reply and reply["header"]["msg_type"] == "input_reply":
                return str(reply["content"].get("value", ""))

    def display(self, *objects) -> None:
        for obj in objects:
            self.publish("display_data", {"data": mimebundle(obj), "metadata": {}, "transient": {}}, self.parent)

    def clear_output(self, wait: bool = False) -> None:
        self.publish("clear_output", {"wait": bool(wait)}, self.parent)

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

    # ------------------------------------------------------------ threads

    def serve(self) -> None:
        signal.signal(signal.SIGINT, self.on_sigint)
        threads = [
            threading.Thread(target=self.heartbeat, daemon=True),
            threading.Thread(target=self.serve_control, daemon=True),
        ]
        # A signal sent to a process may be handed to any of its threads that does not
        # block it; a SIGINT taken by the heartbeat thread would leave the main thread
        # asleep in user code. So the helper threads are born with SIGINT blocked
        # (a thread inherits its creator's mask), and only the main thread hears it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        for thread in threads:
            thread.start()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        log("ready")
        handlers = self.shell_handlers()
        try:
            while True:
                self.handle(self.shell, self.shell.recv_multipart(), handlers, "shell")
        except zmq.ContextTerminated:
            pass
        finally:
            with self.iopub_lock:
                self.iopub.close()
                self.iopub = None
            self.shell.close()
            self.stdin.close()
        for thread in threads:
            thread.join(timeout=2)
        log("shut down")

    def serve_control(self) -> None:
        handlers = self.control_handlers()
        try:
            while True:
                self.handle(self.control, self.control.recv_multipart(), handlers, "control")
        except zmq.ContextTerminated:
            self.control.close()

    def heartbeat(self) -> None:
        try:
            while True:
                self.hb.send_multipart(self.hb.recv_multipart())  # ping → the same bytes back
        except zmq.ContextTerminated:
            self.hb.close()


class Stream:
    """sys.stdout / sys.stderr while user code runs: each finished line becomes a stream message."""

    def __init__(self, kernel: Kernel, name: str, silent: bool):
        self.kernel, self.name, self.silent = kernel, name, silent
        self.buffer = ""

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.buffer += text
        if "\n" in text:
            self.flush()
        return len(text)

    def flush(self) -> None:
        text, self.buffer = self.buffer, ""
        if text and not self.silent:
            self.kernel.publish("stream", {"name": self.name, "text": text}, self.kernel.parent)

    def isatty(self) -> bool:
        return False


# ---------------------------------------------------------------- pure helpers

MISSING = object()


def run_cell(code: str, namespace: dict, filename: str):
    """Run statements, then evaluate a trailing expression and return its value (else None)."""
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
    """ename / evalue / traceback, with this file's own frames left out."""
    tb = None if isinstance(error, SyntaxError) else error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    lines = traceback.format_exception(type(error), error, tb)
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


def no_input(prompt: str = "") -> str:
    raise RuntimeError("input() is unavailable: this frontend does not accept input (allow_stdin is false)")


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
    """is_complete: codeop says whether Python wants more; an open indented block wants a blank line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = codeop.compile_command(code, "<cell>", "exec")
    except (SyntaxError, ValueError, OverflowError):
        return {"status": "invalid"}
    lines = code.split("\n")
    in_open_block = len(lines) > 1 and lines[-1][:1] in (" ", "\t")
    if compiled is None or in_open_block:
        return {"status": "incomplete", "indent": next_indent(code)}
    return {"status": "complete"}


def next_indent(code: str) -> str:
    last = code.rstrip("\n").split("\n")[-1]
    indent = last[: len(last) - len(last.lstrip())]
    return indent + "    " if last.rstrip().endswith(":") else indent


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-f", "--connection-file", required=True)
    args = parser.parse_args(argv)
    with open(args.connection_file) as f:
        connection = json.load(f)
    Kernel(connection).serve()


if __name__ == "__main__":
    main()
