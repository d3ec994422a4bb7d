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

On a kernel kij only attached to (--existing), the kernel and its namespace are the
user's: kij says on stderr what it will run before it runs it, makes one name of its
own (`_kij_<session>_x`) and deletes it again with a silent cell, skips the stdin step,
never interrupts the kernel (a cell that outlives --timeout is reported and left to
run), and on an unsigned kernel (empty key) skips the forgeries it cannot make.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from pathlib import Path
from typing import Callable

from kij import trace, wire
from kij.errors import KernelDied, KernelTimeout, KijError, UserError
from kij.kernel import (Kernel, attached, check_kernel_names, find_connection_file, kernelspec_language,
                        read_connection_file, started, timed)
from kij.sniffer import Sniffed, Sniffer
from kij.trace import Act, Capture, KernelFacts, Record

# The default cell, per language; {x} is the one name it makes. On a kernel kij
# started that is `x`; on someone else's kernel it is a name of kij's own that
# cannot collide with theirs, deleted again by the cleanup cell (run silently, so
# the execution count does not move for it).
DEFAULT_CODE = {
    "python": "{x} = 6 * 7; print('the answer is', {x}); {x}",
    "bash": '{x}=$((6 * 7)); echo "the answer is ${x}"',
}
CLEANUP_CODE = {"python": "del {name}", "bash": "unset {name}"}
STDIN_CODE = "name = input('name? ')\nprint('hello,', name)"
STDIN_ANSWER = "Ada"
PROBE_TIMEOUT = 10.0

TAKEAWAY = (
    "A notebook cell is a signed JSON message on a socket: the reply comes back on "
    "shell, everything you see comes on iopub, and without the key nothing gets in."
)
TAKEAWAY_UNSIGNED = (
    "A notebook cell is a JSON message on a socket: the reply comes back on shell, "
    "everything you see comes on iopub — and a kernel with an empty key, like this one, "
    "runs whatever anyone who can reach its ports sends it."
)


class Lesson:
    """The steps of `kij frames` on one kernel, recorded as acts and records."""

    def __init__(self, kernel: Kernel, sniffer: Sniffer, capture: Capture, timeout: float):
        self.kernel = kernel
        self.sn = sniffer
        self.capture = capture
        self.timeout = timeout
        self.act: str | None = None
        self.notes: dict[int, str] = {}  # id(Sniffed) → note
        self._recorded = 0
        # a kernel kij only attached to: the name kij made there, and how to remove it
        self.private_name: str | None = None
        self.cleanup_code: str | None = None
        self.cleaned = False
        self.execution_count = None  # from the execute step's reply
        self.let_in: list[str] = []  # steps whose bad request the kernel answered

    # -- bookkeeping: turn the sniffer's capture into records, tagged with the act --

    def begin(self, name: str, title: str) -> Act:
        self.flush()
        self.act = name
        act = Act(name=name, title=title)
        self.capture.acts.append(act)
        return act

    def note(self, captured: Sniffed, text: str) -> None:
        self.notes[id(captured)] = text

    def flush(self) -> None:
        for c in self.sn.capture[self._recorded:]:
            seq = len(self.capture.messages)
            self.capture.messages.append(trace.record_of(c, seq, self.act, self.notes.get(id(c))))
        self._recorded = len(self.sn.capture)

    def records(self, act: str) -> list[Record]:
        """What this run captured during one step, as records (flushed first)."""
        self.flush()
        return [r for r in self.capture.messages if r.act == act]

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
        act.outcome = control_outcome(info, reply.parent_id, self.records("control"))
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

    def run_cell(self, code: str, answer: str = STDIN_ANSWER,
                 silent: bool = False) -> tuple[Sniffed, Sniffed, list[Sniffed]]:
        """Send execute_request; answer input_request; return (request, reply, inputs)
        once the reply and `status: idle` for it have both arrived."""
        inputs: list[Sniffed] = []

        def answer_input(got: Sniffed) -> None:
            if got.channel == "stdin" and got.msg_type == "input_request":
                inputs.append(got)
                inputs.append(self.sn.request("stdin", "input_reply", {"value": answer},
                                              parent_header=got.message.header))

        request, exchange = self.sn.exchange(
            "shell", "execute_request", execute_content(code, silent), self.timeout,
            watchdog=lambda: self.kernel.check_alive("while running the cell"), on_message=answer_input)
        if exchange.reply is None or not exchange.idle:
            act = self.capture.acts[-1]
            act.ok = False
            act.outcome = f"after {self.timeout:g} s kij had {exchange.missing()} for its request, and stopped waiting"
            raise KernelTimeout(self.timed_out())
        return request, exchange.reply, inputs

    def timed_out(self) -> str:
        """The timeout message; a kernel kij started is interrupted, one it attached to never."""
        said = self.kernel.timed_out(self.timeout)
        if self.kernel.owned:
            return said
        if self.private_name:
            said += f"; kij queued `{self.cleanup_code}` behind it, so its name goes when the cell has run"
        return said

    def execute(self, code: str) -> Sniffed:
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
        self.execution_count = reply.content.get("execution_count")
        return request

    def stdin(self, language: str | None) -> None:
        act = self.begin("stdin", "stdin: the kernel asks, kij answers input()")
        if language != "python":
            act.outcome = f"skipped: the stdin step runs Python's input(), and this kernel speaks {language}"
            return
        if not self.kernel.owned:
            act.outcome = ("skipped: this kernel is not kij's — input() would be one more cell on it, holding "
                           "it until kij answered; `kij frames` without --existing shows this step")
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
        start = len(self.sn.capture)
        bad = self.sn.send("shell", frames)
        self.note(bad, note)
        bad_id = bad.msg_id
        act.request_msg_id = bad_id
        probe, exchange = self.sn.exchange("shell", "kernel_info_request", {}, PROBE_TIMEOUT)
        self.note(probe, "probe: its reply proves the kernel is done with the request before it")
        if exchange.reply is None or not exchange.idle:  # the probe's reply, and its `status: idle`
            self.kernel.check_alive("while kij probed it")
            act.ok, act.outcome = False, "the probe got no reply either; nothing can be concluded"
            return
        answered = [c for c in self.sn.capture[start:] if c.parent_id == bad_id and c.direction == "from_kernel"]
        if answered:
            act.ok = False
            self.let_in.append(name)
            act.outcome = f"the kernel ANSWERED it ({', '.join(c.msg_type for c in answered)})"
        else:
            act.outcome = (
                "no reply and no broadcast for it: the reply to the kernel_info_request sent after it "
                "arrived first, so the kernel had already dropped it"
            )
        if self.kernel.owned:
            act.evidence = rejection_lines(self.kernel.log()[log_before:], log_word)
        else:
            act.evidence = ["(an --existing kernel's log is not ours to read: it goes wherever its "
                            "launcher sent it, e.g. JupyterLab's terminal)"]

    def forged(self, code: str) -> None:
        if not self.sn.key:
            self.skip("forged", "security: a signature one byte off",
                      "skipped: this kernel's connection file has an empty key, so signing is off — it "
                      "accepts any message, signed or not, and there is no signature to forge")
            return
        msg = wire.build("execute_request", execute_content(code, allow_stdin=False),
                         key=self.sn.key, session=self.sn.session, scheme=self.sn.scheme)
        frames = wire.with_signature_byte_changed(msg.frames, 0)
        old, new = chr(msg.signature[0]), chr(frames[len(msg.identities) + 1][0])
        self.rejected("forged", "security: a signature one byte off",
                      frames, f"forged: kij signed it, then changed signature byte 0 {old!r} → {new!r}",
                      "Invalid Signature")

    def replayed(self, original: Sniffed, seq: int) -> None:
        if not self.sn.key:
            self.skip("replayed", "security: a valid request, sent again unchanged",
                      "skipped: with signing off a message carries no signature, so a replay cannot be "
                      "told from a new request — kij does not run the cell a second time")
            return
        self.rejected("replayed", "security: a valid request, sent again unchanged",
                      original.frames, f"replay: byte for byte the execute_request #{seq}",
                      "Duplicate Signature")

    def skip(self, name: str, title: str, why: str) -> None:
        act = self.begin(name, title)
        act.outcome = why

    # -- an attached kernel: kij's own name, and removing it --

    def cleanup(self) -> None:
        """Delete the name kij made on a kernel it does not own: a silent cell, so the
        execution count stays where kij's own cell left it."""
        act = self.begin("cleanup", "cleanup: kij deletes its own name from your kernel")
        request, reply, _ = self.run_cell(self.cleanup_code, silent=True)
        self.cleaned = True
        act.request_msg_id = request.msg_id
        status = reply.content.get("status")
        count = reply.content.get("execution_count")
        act.ok = status == "ok"
        if not act.ok:
            act.outcome = f"`{self.cleanup_code}` failed (execute_reply status {status!r}): {self.private_name} may remain"
            return
        moved = "stayed at" if count == self.execution_count else "is now"
        act.outcome = (f"execute_reply status 'ok': kij's name {self.private_name} is deleted; the cell was "
                       f"silent, so the execution count {moved} {count}")

    def queue_cleanup(self) -> None:
        """On the way out after a failure: send the cleanup cell without waiting. The
        kernel runs shell requests in order, so it follows kij's cell wherever that is."""
        if self.cleaned or not self.cleanup_code:
            return
        self.sn.request("shell", "execute_request", execute_content(self.cleanup_code, silent=True))
        self.sn.deliver_before_closing("shell")
        self.cleaned = True


def execute_content(code: str, silent: bool = False, allow_stdin: bool = True) -> dict:
    """An execute_request's content; a silent cell stores no history and reads no stdin."""
    return {"code": code, "silent": silent, "store_history": not silent, "user_expressions": {},
            "allow_stdin": allow_stdin and not silent, "stop_on_error": True}


def control_outcome(info: dict, request_id: str, records: list[Record]) -> str:
    """What step 1 proved, from what it captured: which status broadcasts for kij's
    kernel_info_request reached the SUB socket, and whether the kernel's iopub_welcome did."""
    states = [(r.content or {}).get("execution_state") for r in records
              if r.channel == "iopub" and r.msg_type == "status" and r.parent_msg_id == request_id]
    seen = [s for s in ("busy", "idle") if s in states]
    missed = [s for s in ("busy", "idle") if s not in states]
    welcomed = any(r.msg_type == "iopub_welcome" for r in records)
    said = (f"control answered: {info.get('implementation')} {info.get('implementation_version')}, "
            f"protocol {info.get('protocol_version')}; ")
    if seen:
        said += f"its status {' and '.join(seen)} for that request reached kij's SUB socket"
        if missed:
            said += f" (its {missed[0]} did not: it went out before kij's subscription took hold)"
        if welcomed:
            said += ", and so did the kernel's iopub_welcome"
    elif welcomed:
        said += ("no status for that request reached kij's SUB socket (they went out before its "
                 "subscription took hold), but the kernel's iopub_welcome did")
    else:
        return said + "nothing from iopub reached kij's SUB socket yet"
    return said + ": iopub is live"


# What a kernel's log says when it drops a message: ipykernel logs an ERROR line and a
# traceback ending in "ValueError: Invalid Signature …"; kij's native kernel one
# "[kij-native] rejected on shell: …" line.
REJECTION = re.compile(r"ERROR \||^\w+(Error|Exception): |\brejected on \w+:")


def rejection_lines(new_log: str, log_word: str) -> list[str]:
    """The kernel's own words about a message it dropped (at most two lines), or a
    remark that its log says nothing — then the wire alone is the evidence."""
    lines = [line.strip() for line in new_log.splitlines()]
    found = [ln for ln in lines if REJECTION.search(ln)][:2]
    return found or [f"(the kernel's log has no line about it — no {log_word!r} — so the wire above is "
                     "the only evidence)"]


def kernel_facts(kernel: Kernel, info: dict, existing: bool) -> KernelFacts:
    """The kernel a capture was taken on: its kernel_info_reply (info) and connection file."""
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


@timed
def run(code: str | None = None, kernel_name: str = "python3", existing: str | None = None,
        timeout: float = 30.0, tell: Callable[[str], None] | None = None) -> Capture:
    """Boot a kernel (or attach to `existing`) and run the steps on it.

    `tell` hears, while the lesson runs, what a person attached to the kernel must know
    before it happens: what kij will run on their kernel, and that it is busy. When a
    step fails, the exception carries the steps captured so far as `.capture`."""
    if code is not None and not code.strip():
        raise UserError("--code is empty: give kij a cell to run")
    if code is not None and not wire.is_utf8(code):
        raise UserError("--code is not UTF-8 text")
    connection_file = _connection_file(existing) if existing else None
    if code is None and not existing:
        _check_default_cell(kernel_name)
    tell = tell or (lambda text: None)
    with contextlib.ExitStack() as stack:
        if existing:
            kernel = stack.enter_context(attached(connection_file, timeout=timeout, on_busy=tell))
        else:
            (kernel,) = stack.enter_context(started([kernel_name]))
        sn = stack.enter_context(Sniffer(kernel.connection_info))
        capture = Capture(identity=sn.identity.decode(), session=sn.session,
                          takeaway=TAKEAWAY if sn.key else TAKEAWAY_UNSIGNED)
        lesson = Lesson(kernel, sn, capture, timeout)
        try:
            _steps(lesson, code, existing is not None, tell)
        except BaseException as exc:
            if not isinstance(exc, KernelDied):
                lesson.queue_cleanup()  # an attached kernel must not keep kij's name
            lesson.flush()
            if isinstance(exc, KijError) and capture.acts:
                capture.takeaway = ""  # the steps so far, shown with the error: no lesson drawn
                exc.capture = capture
            raise
    return capture


def _steps(lesson: Lesson, code: str | None, existing: bool, tell: Callable[[str], None]) -> None:
    capture, kernel = lesson.capture, lesson.kernel
    info = lesson.control()
    capture.kernel = kernel_facts(kernel, info, existing)
    language = capture.kernel.language
    if code is None:
        if language not in DEFAULT_CODE:
            raise UserError(f"kij has no default cell in {language}; pass one with --code")
        name = "x" if kernel.owned else f"_kij_{lesson.sn.session[:8]}_x"
        code = DEFAULT_CODE[language].format(x=name)
        if not kernel.owned:
            lesson.private_name = name
            lesson.cleanup_code = CLEANUP_CODE[language].format(name=name)
    capture.code = code
    if not kernel.owned:
        capture.kernel.notice = notice(code, lesson.cleanup_code, info, signed=bool(lesson.sn.key))
        tell(capture.kernel.notice)
    lesson.heartbeat()
    request = lesson.execute(code)
    lesson.stdin(language)
    lesson.forged(code)
    lesson.flush()
    seq = next(r.seq for r in capture.messages if r.msg_id == request.msg_id and r.direction == "to_kernel")
    lesson.replayed(request, seq)
    if lesson.cleanup_code:
        lesson.cleanup()
    lesson.flush()
    let_in = lesson.let_in
    if let_in:  # the capture contradicts the usual lesson: say what it showed instead
        capture.takeaway = (f"A notebook cell is a signed JSON message on a socket — and this kernel "
                            f"answered a request it should have dropped ({' and '.join(let_in)}): "
                            "anyone who can reach its ports can run code in it.")


def notice(code: str, cleanup_code: str | None, info: dict, signed: bool) -> str:
    """What kij says on a kernel it does not own before it runs anything there."""
    said = f"this kernel is not kij's. kij will run one cell on it, `{code}`, which moves its execution count by one"
    if info.get("implementation") == "ipython":
        said += " (IPython keeps the result in Out and _, as for any cell)"
    if cleanup_code:
        said += f"; then `{cleanup_code}`, silently: kij's one name goes, yours are untouched"
    said += ". No stdin step"
    if signed:
        said += "; the forged and replayed copies of the cell should be dropped unrun"
    return said + ". kij never interrupts this kernel and leaves it running."


def _connection_file(existing: str) -> Path:
    """--existing's file, found by path, file name or kernel id; a kij capture given
    by mistake is pointed at --load."""
    path = find_connection_file(existing)
    try:
        read_connection_file(path)
    except UserError:
        if _is_capture(path):
            raise UserError(f"{path} is a kij frames capture, not a connection file: "
                            f"show it with `kij frames --load {path}`") from None
        raise
    return path


def _is_capture(path: Path) -> bool:
    try:
        trace.load(path)
    except UserError:
        return False
    return True


def _check_default_cell(kernel_name: str) -> None:
    """Refuse, before booting, a kernel whose language kij has no default cell for."""
    check_kernel_names([kernel_name])
    language = kernelspec_language(kernel_name)
    if language not in DEFAULT_CODE:
        raise UserError(f"the {kernel_name} kernel speaks {language or 'an unnamed language'}, and kij has "
                        f"default cells only in {' and '.join(DEFAULT_CODE)}: pass one with --code")


def load(path: str) -> Capture:
    """A capture saved earlier with --save: no kernel involved."""
    return trace.load(path)


def check_flags(code: str | None, existing: str | None, save: str | None, load: str | None,
                html: str | None = None) -> None:
    """kij frames' flags, refused before anything boots: --load shows a capture and so
    takes nothing that runs a cell; --save and --html must be writable before a kernel starts."""
    if load and (existing or code is not None or save):
        raise UserError("--load shows a saved capture; it cannot be combined with --code, --existing or --save")
    for path in (save, html):
        if path:
            trace.check_writable(path)
