"""`kij frames` — every socket, every frame, every signature.

What the learner should feel: Shift+Enter is not magic, it is bytes. kij opens its
own sockets on a real kernel's five ports and sends one execute_request it built and
signed itself; a single request blooms into a reply on shell and a burst of iopub
broadcasts, each a handful of frames around the `<IDS|MSG>` delimiter, each signed
with the key from the connection file, each pointing back at the request through
its parent_header. Then the other lanes: control answers kernel_info, the heartbeat
echoes raw bytes, and `input()` is answered over stdin. Finally the lock on the door:
a request whose signature is one byte off is dropped, and so is a valid request sent
twice — and the kernel's own log says so.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid

from kij import trace, wire
from kij.errors import KernelTimeout, UserError
from kij.kernel import Kernel, attached, ready, using
from kij.sniffer import Captured, Sniffer
from kij.trace import Act, Capture, KernelFacts

DEFAULT_CODE = {
    "python": "x = 6 * 7; print('the answer is', x); x",
    "bash": 'x=$((6 * 7)); echo "the answer is $x"',
}
STDIN_CODE = "name = input('name? ')\nprint('hello,', name)"
STDIN_ANSWER = "Ada"
PROBE_TIMEOUT = 10.0
ERROR_LINE = re.compile(r"^\w+(Error|Exception): ")  # the last line of a logged traceback

TAKEAWAY = (
    "A notebook cell is a signed JSON message on a socket: the reply comes back on "
    "shell, everything you see comes on iopub, and without the key nothing gets in."
)


class Lesson:
    """The steps of `kij frames` on one kernel, recorded as acts and records."""

    def __init__(self, kernel: Kernel, sniffer: Sniffer, capture: Capture, timeout: float):
        self.kernel = kernel
        self.sn = sniffer
        self.capture = capture
        self.timeout = timeout
        self.act: str | None = None
        self.notes: dict[int, str] = {}  # id(Captured) → note
        self._recorded = 0

    # -- bookkeeping: turn the sniffer's capture into records, tagged with the act --

    def begin(self, name: str, title: str) -> Act:
        self.flush()
        self.act = name
        act = Act(name=name, title=title)
        self.capture.acts.append(act)
        return act

    def note(self, captured: Captured, text: str) -> None:
        self.notes[id(captured)] = text

    def flush(self) -> None:
        for c in self.sn.capture[self._recorded:]:
            seq = len(self.capture.messages)
            self.capture.messages.append(trace.record_of(c, seq, self.act, self.notes.get(id(c))))
        self._recorded = len(self.sn.capture)

    # -- the steps --

    def control(self) -> dict:
        act = self.begin("control", "control: kernel_info_request, and proof iopub is live")
        try:
            reply = self.sn.wait_for_iopub(PROBE_TIMEOUT)
        except TimeoutError as exc:
            self.kernel.check_alive("while kij connected")
            raise UserError(f"{exc} — is the address in the connection file reachable?") from None
        info = reply.content
        act.request_msg_id = reply.parent_id
        act.outcome = (
            f"control answered: {info.get('implementation')} {info.get('implementation_version')}, "
            f"protocol {info.get('protocol_version')}; its busy/idle status reached kij's SUB socket"
        )
        return info

    def heartbeat(self) -> None:
        act = self.begin("heartbeat", "hb: raw bytes out, the same bytes back")
        payload = f"kij ping {uuid.uuid4().hex[:8]}".encode()
        echo = self.sn.ping(payload, timeout=PROBE_TIMEOUT)
        if echo is None:
            self.kernel.check_alive("while kij pinged its heartbeat")
            act.ok, act.outcome = False, "no echo from the heartbeat"
        elif echo.frames == [payload]:
            self.note(echo, "echoed byte for byte")
            act.outcome = f"the heartbeat echoed all {len(payload)} bytes unchanged: no JSON, no signature"
        else:
            act.ok, act.outcome = False, "the heartbeat answered with different bytes"

    def run_cell(self, code: str, answer: str = STDIN_ANSWER) -> tuple[Captured, Captured, list[Captured]]:
        """Send execute_request; answer input_request; return (request, reply, inputs)
        once the reply and `status: idle` for it have both arrived."""
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": True, "stop_on_error": True}
        request = self.sn.request("shell", "execute_request", content)
        reply = None
        idle = False
        inputs: list[Captured] = []
        deadline = time.monotonic() + self.timeout
        watchdog, self.sn.watchdog = self.sn.watchdog, lambda: self.kernel.check_alive("while running the cell")
        try:
            while not (reply and idle):
                got = self.sn.recv_until(lambda c: c.parent_id == request.msg_id, deadline - time.monotonic())
                if got is None:
                    self.kernel.interrupt()
                    raise KernelTimeout(
                        f"the cell ran longer than {self.timeout:g} s; kij interrupted the "
                        f"{self.kernel.name} kernel (give it more time with --timeout)"
                    )
                if got.channel == "stdin" and got.msg_type == "input_request":
                    inputs.append(got)
                    inputs.append(self.sn.request("stdin", "input_reply", {"value": answer},
                                                  parent_header=got.message.header))
                elif got.channel == "shell":
                    reply = got
                elif got.msg_type == "status" and got.content.get("execution_state") == "idle":
                    idle = True
        finally:
            self.sn.watchdog = watchdog
        return request, reply, inputs

    def execute(self, code: str) -> Captured:
        act = self.begin("execute", "shell + iopub: one execute_request, the whole lifecycle")
        request, reply, _ = self.run_cell(code)
        act.request_msg_id = request.msg_id
        status = reply.content.get("status")
        act.ok = status == "ok"
        kinds = [c.msg_type for c in self.sn.capture if c.parent_id == request.msg_id]
        act.outcome = (
            f"execute_reply status {status!r}, execution_count {reply.content.get('execution_count')}; "
            f"{len(kinds)} messages answered our request, all pointing at it through parent_header"
        )
        return request

    def stdin(self, language: str | None) -> None:
        act = self.begin("stdin", "stdin: the kernel asks, kij answers input()")
        if language != "python":
            act.outcome = f"skipped: the stdin step runs Python's input(), and this kernel speaks {language}"
            return
        request, reply, inputs = self.run_cell(STDIN_CODE, STDIN_ANSWER)
        act.request_msg_id = request.msg_id
        if len(inputs) >= 2:
            prompt = inputs[0].content.get("prompt")
            act.outcome = (
                f"the kernel sent input_request {prompt!r} to kij's stdin socket (same identity as "
                f"shell); kij's input_reply {STDIN_ANSWER!r} went back and the cell finished"
            )
        else:
            act.ok, act.outcome = False, "the kernel never asked for input"

    def rejected(self, name: str, title: str, frames: list[bytes], note: str, log_word: str) -> None:
        """Send frames the kernel should drop, then a fresh kernel_info_request on the
        same socket. Shell requests are handled in order, so when the probe's reply
        arrives the kernel has dealt with the bad one — and anything it said about it
        would have arrived first."""
        act = self.begin(name, title)
        log_before = len(self.kernel.log())
        bad = self.sn.send("shell", frames)
        self.note(bad, note)
        bad_id = bad.msg_id
        act.request_msg_id = bad_id
        probe = self.sn.request("shell", "kernel_info_request", {})
        self.note(probe, "probe: its reply proves the kernel is done with the request before it")
        start = len(self.sn.capture)
        reply = idle = None
        while not (reply and idle):  # the probe's reply, and its `status: idle` on iopub
            got = self.sn.recv_until(lambda c: c.parent_id == probe.msg_id and (
                c.channel == "shell" or c.content.get("execution_state") == "idle"), PROBE_TIMEOUT)
            if got is None:
                self.kernel.check_alive("while kij probed it")
                act.ok, act.outcome = False, "the probe got no reply either; nothing can be concluded"
                return
            if got.channel == "shell":
                reply = got
            else:
                idle = got
        answered = [c for c in self.sn.capture[start:] if c.parent_id == bad_id and c.direction == "from_kernel"]
        if answered:
            act.ok = False
            act.outcome = f"the kernel ANSWERED it ({', '.join(c.msg_type for c in answered)})"
        else:
            act.outcome = (
                "no reply and no broadcast for it: the reply to the kernel_info_request sent after it "
                "arrived first, so the kernel had already dropped it"
            )
        if self.kernel.owned:
            lines = [line.strip() for line in self.kernel.log()[log_before:].splitlines()]
            act.evidence = [ln for ln in lines if "ERROR |" in ln or ERROR_LINE.match(ln)][:2]
            if not act.evidence:
                act.evidence = [f"(no {log_word!r} line in the kernel's log)"]
        else:
            act.evidence = ["(an --existing kernel's log is not ours to read: it goes wherever its "
                            "launcher sent it, e.g. JupyterLab's terminal)"]

    def forged(self, code: str) -> None:
        msg = wire.build("execute_request",
                         {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                          "allow_stdin": False, "stop_on_error": True},
                         key=self.sn.key, session=self.sn.session, scheme=self.sn.scheme)
        frames = wire.with_signature_byte_changed(msg.frames, 0)
        old, new = chr(msg.signature[0]), chr(frames[len(msg.identities) + 1][0])
        self.rejected("forged", "security: a signature one byte off",
                      frames, f"forged: kij signed it, then changed signature byte 0 {old!r} → {new!r}",
                      "Invalid Signature")

    def replayed(self, original: Captured, seq: int) -> None:
        self.rejected("replayed", "security: a valid request, sent again unchanged",
                      original.frames, f"replay: byte for byte the execute_request #{seq}",
                      "Duplicate Signature")


def _facts(kernel: Kernel, info: dict, existing: bool) -> KernelFacts:
    conn = kernel.connection_info
    lang = info.get("language_info", {})
    return KernelFacts(
        name=kernel.name, existing=existing, connection_file=kernel.connection_file, pid=kernel.pid,
        language=lang.get("name"), implementation=info.get("implementation"),
        implementation_version=info.get("implementation_version"),
        protocol_version=info.get("protocol_version"),
        transport=conn.get("transport", "tcp"), ip=conn.get("ip", ""),
        ports={ch: conn.get(f"{ch}_port") for ch in ("shell", "iopub", "stdin", "control", "hb")},
        signature_scheme=conn.get("signature_scheme", ""), key_hint=trace.key_hint(conn.get("key", "")),
        log_readable=kernel.owned,
    )


def _is_utf8(text: str) -> bool:
    """False for a command-line argument whose bytes were not UTF-8: Python keeps them
    as lone surrogates, which no JSON message can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def run(code: str | None = None, kernel_name: str = "python3", existing: str | None = None,
        timeout: float = 30.0, kernels: list[Kernel] | None = None) -> Capture:
    """Boot a kernel (or attach to `existing`) and run the steps on it. `kernels`, when
    given, is one fresh kernel launched for this lesson by kij tour, which shuts it down."""
    if code is not None and not code.strip():
        raise UserError("--code is empty: give kij a cell to run")
    if code is not None and not _is_utf8(code):
        raise UserError("--code is not UTF-8 text")
    t0 = time.monotonic()
    booting = attached(existing) if existing else using(kernels, [kernel_name])
    with contextlib.ExitStack() as stack:
        kernel = stack.enter_context(booting)
        if not existing:
            (kernel,) = kernel
            ready([kernel])
        sn = stack.enter_context(Sniffer(kernel.connection_info))
        capture = Capture(identity=sn.identity.decode(), session=sn.session, takeaway=TAKEAWAY)
        lesson = Lesson(kernel, sn, capture, timeout)
        info = lesson.control()
        capture.kernel = _facts(kernel, info, existing is not None)
        language = capture.kernel.language
        if code is None:
            if language not in DEFAULT_CODE:
                raise UserError(f"kij has no default cell in {language}; pass one with --code")
            code = DEFAULT_CODE[language]
        capture.code = code
        lesson.heartbeat()
        request = lesson.execute(code)
        lesson.stdin(language)
        lesson.forged(code)
        lesson.flush()
        seq = next(r.seq for r in capture.messages if r.msg_id == request.msg_id and r.direction == "to_kernel")
        lesson.replayed(request, seq)
        lesson.flush()
    capture.elapsed_ms = round((time.monotonic() - t0) * 1000, 1)
    return capture


def load(path: str) -> Capture:
    """A capture saved earlier with --save: no kernel involved."""
    return trace.load(path)
