"""`kij control`: the conversations beside execute, on a real python3 kernel.

What the learner should feel: shell is a queue — one request at a time, behind
whatever cell is running — and control is the lane that is not. Stopping a runaway
cell, asking a busy kernel who it is, a console beside a busy notebook (a subshell),
a debugger stopped at a breakpoint: all of it works because it does not wait in
shell's queue.

The parts, each measured on this run's wire (kij's own sockets, kij.sniffer):

1. queue      a cell sleeps; kernel_info on shell waits behind it, on control it does not
2. interrupt  by signal (SIGINT from kij's process: nothing on the wire), and by
              interrupt_request on control (a kernelspec with interrupt_mode "message")
3. subshells  create_subshell_request on control, an execute_request whose header has
              subshell_id answered while the main shell sleeps, list, delete
4. debugger   debug_request on control carrying the Debug Adapter Protocol: a
              breakpoint, a cell that stops at it, stackTrace and variables while shell
              is blocked, continue
5. wire       the iopub_welcome (no topic frame) and the two protocol versions
5b. secrecy   signed is not secret: what kij's sniffer reads of a signed message
    curve     a third kernel under CurveZMQ (transport_encryption "auto"): kij's
              sockets with its curve keys, and a sniffer without them that gets nothing

The lesson returns a ControlResult (facts + a kij-frames capture) and never prints.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from kij import trace, wire
from kij.errors import KernelFault
from kij.kernel import Exchange, Kernel, kernelspec, ready, started, timed
from kij.sniffer import Sniffed, Sniffer
from kij.trace import Act, Capture, KernelFacts

SLEEP_S = 3  # the busy cell's length: long enough to see the queue, short enough to wait for
WAIT = 15.0  # seconds any one reply may take before kij gives up (a busy cell is SLEEP_S)
END_WAIT = 2.0  # after a failure: how long ending the debug session may take
SLEEP_CELL = f"import time\nprint('sleeping {SLEEP_S} s', flush=True)\ntime.sleep({SLEEP_S})"
RUNAWAY_CELL = "import time\nprint('running away', flush=True)\ntime.sleep(60)"
SUBSHELL_CELL = "6 * 7"
DEBUG_CELL = "def area(w, h):\n    a = w * h\n    return a\n\narea(6, 7)"
BREAK_LINE = 3  # `return a`: w, h and a are all set there

LISTENING = "while kij listened"
KEYLESS_WAIT = 2.0  # how long a socket without the curve keys is given to get an answer
TAKEAWAY = (
    "Shell is a queue: one request at a time, behind the running cell. Control is its own "
    "socket so that interrupting, asking, debugging and managing subshells never wait in it."
)


# --- the facts each part leaves ----------------------------------------------------


@dataclass
class Part:
    """One part of the lesson: what kij did and what this run's wire showed."""

    name: str
    title: str
    says: list[str] = field(default_factory=list)  # sentences computed from the capture
    ok: bool = True


@dataclass
class Queue:
    shell_wait_ms: float | None = None  # kernel_info on shell: request → reply
    control_wait_ms: float | None = None  # the same request on control
    cell_ms: float | None = None  # the busy cell: execute_request → execute_reply
    control_before_cell: bool = False  # control's reply came before the cell's execute_reply
    shell_after_cell: bool = False  # shell's reply came after it


@dataclass
class Interrupt:
    mode: str  # "signal" | "message"
    kernelspec_interrupt_mode: str = ""
    sent: list[str] = field(default_factory=list)  # what kij put on the wire to interrupt
    interrupt_reply: str | None = None  # its status, in message mode
    ename: str | None = None  # what the cell's execute_reply says
    reply_status: str | None = None


@dataclass
class Subshells:
    advertised: bool = False  # "kernel subshells" in kernel_info's supported_features
    subshell_id: str | None = None
    listed: list[str] = field(default_factory=list)
    listed_after_delete: list[str] = field(default_factory=list)
    subshell_result: str | None = None
    round_trip_ms: float | None = None  # the subshell's execute_request → execute_reply
    before_main: bool = False  # the subshell's execute_reply came before the main shell's
    reply_header_has_subshell_id: bool | None = None
    matched_by_parent: bool = False


@dataclass
class Debugger:
    commands: dict[str, bool] = field(default_factory=dict)  # DAP command → success
    source_path: str | None = None
    stopped_reason: str | None = None
    stopped_line: int | None = None
    frame_name: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    stopped_before_continue: bool = False
    answered_while_blocked: bool = False  # control answered before the cell's execute_reply
    result: str | None = None
    ended: bool = False  # disconnect answered: no debug session left in the kernel
    initialize_refused: int = 0  # times initialize was refused before it was accepted (see Refused)


@dataclass
class Welcome:
    subscription: str
    frames: int
    first_role: str  # "delimiter" when there is no topic frame
    first_frame: str
    parent_empty: bool


def _welcome(c: Sniffed) -> Welcome:
    roles = trace.frame_roles("iopub", c.frames, c.direction)
    return Welcome(subscription=c.content.get("subscription", ""), frames=len(c.frames), first_role=roles[0],
                   first_frame=c.frames[0].decode("utf-8", "replace"), parent_empty=c.message.parent_header == {})


@dataclass
class Versions:
    welcomes: list[Welcome] = field(default_factory=list)
    kernelspec_protocol: str | None = None
    reply_protocol: str | None = None


@dataclass
class Secrecy:
    curve_in_pyzmq: bool = False
    kernelspec_supports_curve: bool = False
    encrypted: bool = False  # the third kernel's connection file carries curve keys
    why_not: str = ""  # when no kernel under CurveZMQ could be shown: why
    keyed_reply_ms: float | None = None  # kij's keyed sockets: kernel_info on control, request → reply
    keyed_read: str | None = None  # what kij's keyed sniffer read of the encrypted kernel's execute_input
    keyless_wait_s: float = KEYLESS_WAIT
    keyless_got: str | None = None  # what a sniffer without the curve keys got back (Exchange.missing)
    read_code: str | None = None  # what kij's sniffer read of a signed execute_request
    signature_hint: str | None = None


@dataclass
class ControlResult:
    capture: Capture
    parts: list[Part] = field(default_factory=list)
    queue: Queue = field(default_factory=Queue)
    interrupts: list[Interrupt] = field(default_factory=list)
    subshells: Subshells = field(default_factory=Subshells)
    debugger: Debugger = field(default_factory=Debugger)
    versions: Versions = field(default_factory=Versions)
    secrecy: Secrecy = field(default_factory=Secrecy)
    takeaway: str = TAKEAWAY
    elapsed_ms: float = 0.0
    # what kij started, so that anyone can check it is gone afterwards
    kernel_pids: list[int] = field(default_factory=list)
    connection_files: list[str] = field(default_factory=list)
    kernelspec_dir: str = ""  # the private interrupt_mode "message" kernelspec (removed)


# --- recording: each sniffer's capture → records tagged with the part --------------


class Recorder:
    """Turns what the sniffers captured into trace records, tagged with the current part.

    Two kernels' sniffers share one time line: each record's t_ms counts from the
    first sniffer's opening."""

    def __init__(self, capture: Capture):
        self.capture = capture
        self.act: str | None = None
        self.sniffers: list[Sniffer] = []
        self._seen: dict[int, int] = {}
        self._t0: float | None = None

    def add(self, sn: Sniffer) -> None:
        self.sniffers.append(sn)
        self._seen[id(sn)] = 0
        if self._t0 is None:
            self._t0 = sn.opened_at

    def begin(self, part: Part) -> Act:
        self.flush()
        self.act = part.name
        act = Act(name=part.name, title=part.title)
        self.capture.acts.append(act)
        return act

    def flush(self) -> None:
        for sn in self.sniffers:
            shift = sn.opened_at - (self._t0 or sn.opened_at)
            for c in sn.capture[self._seen[id(sn)]:]:
                rec = trace.record_of(c, len(self.capture.messages), self.act)
                rec.t_ms = round((c.t + shift) * 1000, 3)
                self.capture.messages.append(rec)
            self._seen[id(sn)] = len(sn.capture)


# --- talking: requests, and what answers them ----------------------------------------


def execute_content(code: str) -> dict:
    return {"code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True}


def answered(sn: Sniffer, kernel: Kernel, req: Sniffed, timeout: float = WAIT) -> Exchange:
    """The reply to req and its status idle (`Sniffer.answer`, so they may already have
    arrived while kij waited for something else) — or KernelFault, saying what never came."""
    ex = sn.answer(req, timeout, watchdog=lambda: kernel.check_alive(LISTENING))
    if ex.reply is None or not ex.idle:
        raise KernelFault(f"the {kernel.name} kernel sent {ex.missing()} for kij's {req.msg_type} "
                          f"within {timeout:g} s")
    return ex


def ask(sn: Sniffer, kernel: Kernel, channel: str, msg_type: str, content: dict) -> tuple[Sniffed, Exchange]:
    """Send a request and wait for its reply and status idle (see `answered`)."""
    req = sn.request(channel, msg_type, content)
    return req, answered(sn, kernel, req)


def until(sn: Sniffer, kernel: Kernel, req: Sniffed, what: str, accept: Callable[[Sniffed], bool]) -> Sniffed:
    """The first message since req that accept takes (e.g. the cell's first output) —
    or KernelFault, saying what never came."""
    ex = sn.answer(req, WAIT, watchdog=lambda: kernel.check_alive(LISTENING), stop_on=accept)
    if ex.stopped_on is None:
        raise KernelFault(f"the {kernel.name} kernel sent no {what} within {WAIT:g} s")
    return ex.stopped_on


def iopub_live(sn: Sniffer, kernel: Kernel) -> dict:
    """kernel_info on control until kij's SUB socket is subscribed (sniffer.wait_for_iopub),
    then once more, waiting for that request's status idle too: iopub is one ordered
    stream and control handles one request at a time, so every broadcast about the
    earlier asks has arrived by then (or went out before kij subscribed, to no one).
    Returns kernel_info_reply's content."""
    sn.wait_for_iopub()
    _, ex = ask(sn, kernel, "control", "kernel_info_request", {})
    return ex.reply.content


@contextlib.contextmanager
def settled(sn: Sniffer, kernel: Kernel) -> Iterator[None]:
    """After a part: wait for the status idle of every request it sent whose status
    busy arrived, so that no broadcast of one part straggles into the next. (A request
    sent before kij's SUB socket was subscribed — wait_for_iopub asks again until it
    is — may have had both its busy and its idle published to no one.)"""
    start = len(sn.capture)
    yield
    busy = {c.parent_id for c in sn.capture[start:]
            if c.msg_type == "status" and c.content.get("execution_state") == "busy"}
    for req in [c for c in sn.capture[start:] if c.direction == "to_kernel" and c.msg_id in busy]:
        answered(sn, kernel, req)


def _verdict(part: Part, held: bool, said: str, otherwise: str) -> None:
    """One sentence on what this run showed; a part whose claim did not hold is not ok."""
    part.says.append(said if held else otherwise)
    part.ok = part.ok and held


def _of(ex: Exchange, msg_type: str) -> Sniffed | None:
    """The first message of that type among what answered a request."""
    return next((c for c in ex.messages if c.msg_type == msg_type), None)


def _ms(a: Sniffed, b: Sniffed) -> float:
    return round((b.t - a.t) * 1000, 1)


def _index(sn: Sniffer, c: Sniffed) -> int:
    return next(i for i, x in enumerate(sn.capture) if x is c)


def _before(sn: Sniffer, a: Sniffed, b: Sniffed) -> bool:
    """a arrived before b (by their place in the capture, not by a clock)."""
    return _index(sn, a) < _index(sn, b)


def _running(sn: Sniffer, kernel: Kernel, req: Sniffed) -> Sniffed:
    """The cell's first stream output: proof its code is running (not just queued)."""
    return until(sn, kernel, req, "output from the cell (proof it is running)",
                 lambda c: c.msg_type == "stream" and c.parent_id == req.msg_id)


# --- part 1: shell is a queue, control is not ---------------------------------------


def queue(sn: Sniffer, kernel: Kernel, rec: Recorder, result: ControlResult) -> None:
    part = Part("queue", "shell is a queue, control is not")
    result.parts.append(part)
    rec.begin(part)
    cell = sn.request("shell", "execute_request", execute_content(SLEEP_CELL))
    _running(sn, kernel, cell)
    on_shell = sn.request("shell", "kernel_info_request", {})
    on_control = sn.request("control", "kernel_info_request", {})
    got = {name: answered(sn, kernel, req, WAIT + SLEEP_S).reply
           for name, req in (("control", on_control), ("cell", cell), ("shell", on_shell))}
    q = result.queue
    q.shell_wait_ms = _ms(on_shell, got["shell"])
    q.control_wait_ms = _ms(on_control, got["control"])
    q.cell_ms = _ms(cell, got["cell"])
    q.control_before_cell = _before(sn, got["control"], got["cell"])
    q.shell_after_cell = _before(sn, got["cell"], got["shell"])
    part.says.append(f"A cell sleeping {SLEEP_S} s was running (its first output had arrived) when kij "
                     "sent kernel_info_request twice: on shell, then on control.")
    shell = f"On shell the reply took {q.shell_wait_ms:.0f} ms"
    _verdict(part, q.shell_after_cell,
             f"{shell}: it came only after the cell's execute_reply — it waited in shell's queue behind the cell.",
             f"{shell} and came before the cell's execute_reply: this kernel did not queue it behind the cell.")
    control = f"On control the reply took {q.control_wait_ms:.1f} ms"
    _verdict(part, q.control_before_cell,
             f"{control}: answered while the cell was still sleeping, before its execute_reply.",
             f"{control} and came after the cell's execute_reply: this run does not show control overtaking shell.")
    part.says.append("Why control exists: the requests that must work while a cell runs — interrupt, "
                     "shutdown, debug, subshell management — get a socket of their own (ipykernel runs it "
                     "in its own thread), so they never wait behind the cell.")


# --- part 2: interrupt, two ways -----------------------------------------------------


def interrupt_by_signal(sn: Sniffer, kernel: Kernel, rec: Recorder, result: ControlResult,
                        mode: str) -> None:
    part = Part("interrupt-signal", f'interrupt by signal (kernelspec interrupt_mode "{mode}")')
    result.parts.append(part)
    rec.begin(part)
    facts = Interrupt(mode="signal", kernelspec_interrupt_mode=mode)
    result.interrupts.append(facts)
    cell = sn.request("shell", "execute_request", execute_content(RUNAWAY_CELL))
    _running(sn, kernel, cell)
    kernel.interrupt()  # jupyter_client reads interrupt_mode from the kernelspec: SIGINT
    facts.sent = [f"SIGINT to PID {kernel.pid}"]
    done = answered(sn, kernel, cell)
    reply = done.reply
    _interrupted(part, facts, done)
    part.says.insert(0, f"kij asked jupyter_client to interrupt; this kernelspec's interrupt_mode is "
                        f"\"{mode}\", so it sent SIGINT to the kernel's process (PID {kernel.pid}). "
                        "Nothing of it travels on the wire: the capture holds no message from kij between "
                        "the cell and its error.")
    sent_between = [c for c in sn.capture[_index(sn, cell) + 1:_index(sn, reply)] if c.direction == "to_kernel"]
    if sent_between:
        part.ok = False
        part.says.append(f"(but kij's sockets did send {len(sent_between)} message(s) meanwhile)")


def interrupt_by_message(sn: Sniffer, kernel: Kernel, rec: Recorder, result: ControlResult,
                         mode: str) -> None:
    part = Part("interrupt-message",
                f'interrupt by message (second kernel: interrupt_mode "{mode}")')
    result.parts.append(part)
    rec.begin(part)
    facts = Interrupt(mode="message", kernelspec_interrupt_mode=mode)
    result.interrupts.append(facts)
    iopub_live(sn, kernel)  # kij's sockets on the second kernel: kernel_info on control
    cell = sn.request("shell", "execute_request", execute_content(RUNAWAY_CELL))
    _running(sn, kernel, cell)
    req = sn.request("control", "interrupt_request", {})
    facts.sent = ["interrupt_request on control"]
    facts.interrupt_reply = answered(sn, kernel, req).reply.content.get("status")
    done = answered(sn, kernel, cell)
    part.says.append(f"This kernelspec says interrupt_mode \"{mode}\": a frontend interrupts it with an "
                     f"interrupt_request on control, as kij did; interrupt_reply said "
                     f"\"{facts.interrupt_reply}\". (In ipykernel's source the handler then sends SIGINT to "
                     "its own process: the same KeyboardInterrupt, raised from inside.)")
    _interrupted(part, facts, done)


def _interrupted(part: Part, facts: Interrupt, done: Exchange) -> None:
    """What came back for the interrupted cell: its error on iopub and its execute_reply."""
    facts.reply_status = done.reply.content.get("status")
    facts.ename = done.reply.content.get("ename")
    error = _of(done, "error")
    if facts.ename == "KeyboardInterrupt":
        where = " (and as an error message on iopub)" if error else ""
        part.says.append(f"The cell's execute_reply says status \"{facts.reply_status}\", ename "
                         f"KeyboardInterrupt{where}: the running code was interrupted, the kernel lives on.")
    else:
        part.ok = False
        part.says.append(f"The cell's execute_reply says status \"{facts.reply_status}\", ename {facts.ename!r} "
                         "— not the KeyboardInterrupt an interrupt raises.")


# --- part 3: subshells ---------------------------------------------------------------


def subshells(sn: Sniffer, kernel: Kernel, rec: Recorder, result: ControlResult, info: dict) -> None:
    part = Part("subshells", "subshells (JEP 91): a second shell lane inside one kernel")
    result.parts.append(part)
    rec.begin(part)
    s = result.subshells
    s.advertised = "kernel subshells" in info.get("supported_features", [])
    if not s.advertised:
        part.ok = False
        part.says.append(f"kernel_info_reply's supported_features is {info.get('supported_features', [])!r}: "
                         "no \"kernel subshells\", so kij does not try them.")
        return
    part.says.append("kernel_info_reply lists \"kernel subshells\" in supported_features.")
    _, created = ask(sn, kernel, "control", "create_subshell_request", {})
    s.subshell_id = created.reply.content.get("subshell_id")
    main = sn.request("shell", "execute_request", execute_content(SLEEP_CELL))
    _running(sn, kernel, main)
    sub = sn.request("shell", "execute_request", execute_content(SUBSHELL_CELL), header={"subshell_id": s.subshell_id})
    sub_done = answered(sn, kernel, sub, WAIT + SLEEP_S)
    got = {"sub": sub_done.reply, "main": answered(sn, kernel, main, WAIT + SLEEP_S).reply}
    result_msg = _of(sub_done, "execute_result")
    s.subshell_result = result_msg.content.get("data", {}).get("text/plain") if result_msg else None
    s.round_trip_ms = _ms(sub, got["sub"])
    s.before_main = _before(sn, got["sub"], got["main"])
    s.reply_header_has_subshell_id = "subshell_id" in got["sub"].message.header
    s.matched_by_parent = got["sub"].parent_id == sub.msg_id
    s.listed = ask(sn, kernel, "control", "list_subshell_request", {})[1].reply.content.get("subshell_id", [])
    ask(sn, kernel, "control", "delete_subshell_request", {"subshell_id": s.subshell_id})
    listed = ask(sn, kernel, "control", "list_subshell_request", {})[1]
    s.listed_after_delete = listed.reply.content.get("subshell_id", [])
    part.says.append(f"create_subshell_request on control → subshell_id {s.subshell_id}.")
    if s.before_main:
        part.says.append(f"While the main shell slept {SLEEP_S} s, an execute_request ({SUBSHELL_CELL}) whose "
                         f"header carried that subshell_id came back in {s.round_trip_ms:.0f} ms "
                         f"(Out: {s.subshell_result}), before the main shell's execute_reply.")
    else:
        part.ok = False
        part.says.append(f"The subshell's execute_reply took {s.round_trip_ms:.0f} ms and came after the main "
                         "shell's: this run does not show the subshell overtaking it.")
    if s.reply_header_has_subshell_id is False:
        part.says.append("What the reply leaves out: its own header has no subshell_id. kij matched it to "
                         "its request through parent_header.msg_id"
                         + (" (the parent_header does carry the subshell_id kij sent)."
                            if "subshell_id" in got["sub"].message.parent_header else "."))
    else:
        part.says.append("The reply's own header carries subshell_id here.")
    gone = s.subshell_id not in s.listed_after_delete
    part.says.append(f"list_subshell_request listed {s.listed}; after delete_subshell_request it listed "
                     f"{s.listed_after_delete}" + (": the subshell is gone." if gone else "."))
    part.ok = part.ok and gone and s.subshell_id in s.listed


# --- part 4: the debugger -----------------------------------------------------------


class Refused(KernelFault):
    """The kernel's debug_reply said success: false."""


# ipykernel answers initialize with success: false and no message when its own
# `debugpy.listen` failed — for one, when another process holds the port the kernel
# picked for debugpy (checked: hold that port, initialize is refused; free it, and the
# next initialize is accepted). kij asks once more before it gives up.
INITIALIZE_ATTEMPTS = 2


class Dap:
    """debug_request on control carrying Debug Adapter Protocol requests, numbered."""

    def __init__(self, sn: Sniffer, kernel: Kernel, facts: Debugger):
        self.sn, self.kernel, self.facts = sn, kernel, facts
        self.seq = 0
        self.replies: list[Sniffed] = []
        self.sent: dict[int, Sniffed] = {}  # seq → the debug_request that carried it

    def __call__(self, command: str, arguments: dict | None = None, timeout: float = WAIT) -> dict:
        self.seq += 1
        req = self.sn.request("control", "debug_request", {
            "type": "request", "seq": self.seq, "command": command, "arguments": arguments or {}})
        self.sent[self.seq] = req
        reply = answered(self.sn, self.kernel, req, timeout).reply
        self.replies.append(reply)
        self.facts.commands[command] = bool(reply.content.get("success"))
        if not reply.content.get("success"):
            why = reply.content.get("message") or "its reply gave no reason"
            raise Refused(f"the debugger refused {command}: {why}{self.kernel.last_words()}")
        return reply.content.get("body", {}) or {}


def debugger(sn: Sniffer, kernel: Kernel, rec: Recorder, result: ControlResult) -> None:
    part = Part("debugger", "the debugger: debug_request on control, debug_event on iopub")
    result.parts.append(part)
    rec.begin(part)
    d = result.debugger
    dap = Dap(sn, kernel, d)
    attached = False
    stopped_thread = None
    try:
        attached = True  # from initialize on, debugpy may be running in the kernel: disconnect it
        _initialize(dap, d)
        dap("attach", {})
        dap("debugInfo")
        d.source_path = dap("dumpCell", {"code": DEBUG_CELL}).get("sourcePath")
        dap("setBreakpoints", {"source": {"path": d.source_path}, "breakpoints": [{"line": BREAK_LINE}],
                               "sourceModified": False})
        dap("configurationDone")
        cell = sn.request("shell", "execute_request", execute_content(DEBUG_CELL))
        stopped = until(sn, kernel, cell, 'debug_event "stopped"',
                        lambda c: c.msg_type == "debug_event" and c.content.get("event") == "stopped")
        stopped_thread = stopped.content.get("body", {}).get("threadId")
        d.stopped_reason = stopped.content.get("body", {}).get("reason")
        frames = dap("stackTrace", {"threadId": stopped_thread}).get("stackFrames", [])
        top = frames[0] if frames else {}
        d.stopped_line, d.frame_name = top.get("line"), top.get("name")
        scopes = dap("scopes", {"frameId": top.get("id")}).get("scopes", [])
        local = next((s for s in scopes if s.get("name") == "Locals"), scopes[0] if scopes else {})
        found = dap("variables", {"variablesReference": local.get("variablesReference")}).get("variables", [])
        d.variables = {v["name"]: v.get("value", "") for v in found if not v["name"].startswith("(")}
        last_answer = dap.replies[-1]  # variables' debug_reply
        cont = dap.seq + 1
        dap("continue", {"threadId": stopped_thread})
        stopped_thread = None
        done = answered(sn, kernel, cell)
        reply = done.reply
        d.answered_while_blocked = _before(sn, last_answer, reply)
        out = _of(done, "execute_result")
        d.result = out.content.get("data", {}).get("text/plain") if out else None
        d.stopped_before_continue = _before(sn, stopped, dap.sent[cont]) and _before(sn, stopped, reply)
    except BaseException:
        _end_session(dap, attached, stopped_thread, END_WAIT)
        raise
    _end_session(dap, attached, stopped_thread, WAIT)
    _debugger_says(part, d)


def _initialize(dap: Dap, d: Debugger) -> None:
    """DAP initialize, asked again once if refused (see INITIALIZE_ATTEMPTS)."""
    arguments = {"clientID": "kij", "clientName": "kij", "adapterID": "python", "pathFormat": "path",
                 "linesStartAt1": True, "columnsStartAt1": True, "supportsVariableType": True,
                 "supportsVariablePaging": True, "supportsRunInTerminalRequest": True, "locale": "en"}
    for attempt in range(INITIALIZE_ATTEMPTS):
        try:
            dap("initialize", arguments)
            return
        except Refused as exc:
            d.initialize_refused += 1
            if attempt + 1 == INITIALIZE_ATTEMPTS:
                exc.args = (f"{exc.args[0]} ({d.initialize_refused} times; ipykernel refuses initialize without "
                            "a reason when debugpy cannot listen, e.g. on a port another process holds)",)
                raise


def _end_session(dap: Dap, attached: bool, stopped_thread, timeout: float) -> None:
    """On every path: let a stopped cell go on, then disconnect the debug session.
    After a failure each gets a short wait (END_WAIT): the kernel is shut down next anyway."""
    if stopped_thread is not None:
        with contextlib.suppress(Exception):
            dap("continue", {"threadId": stopped_thread}, timeout=timeout)
    if attached:
        with contextlib.suppress(Exception):
            dap("disconnect", {"restart": False, "terminateDebuggee": True}, timeout=timeout)
            dap.facts.ended = True


def _debugger_says(part: Part, d: Debugger) -> None:
    done = ", ".join(f"{c}{'' if ok else ' ✗'}" for c, ok in d.commands.items() if c != "disconnect")
    part.says.append(f"Each DAP command went as a debug_request on control and got a debug_reply: {done}.")
    if d.initialize_refused:
        part.says.append("The first initialize was refused, with no reason given (ipykernel does that when "
                         "debugpy cannot listen on the port it picked); kij asked again and it was accepted.")
    part.says.append(f"dumpCell wrote the cell to {d.source_path}; setBreakpoints put a breakpoint on its "
                     f"line {BREAK_LINE}; the cell was then sent on shell as usual.")
    if d.stopped_reason:
        part.says.append(f"debug_event \"stopped\" (reason \"{d.stopped_reason}\") came on iopub; stackTrace "
                         f"put the top frame in {d.frame_name} at line {d.stopped_line}; its variables: "
                         + ", ".join(f"{k} = {v}" for k, v in d.variables.items()) + ".")
    if d.answered_while_blocked:
        part.says.append("All of that was answered on control while shell was blocked at the breakpoint: "
                         "the cell's execute_reply had not come yet.")
    else:
        part.ok = False
        part.says.append("The cell's execute_reply had already come before kij read the stopped frame.")
    if d.stopped_before_continue:
        part.says.append(f"\"stopped\" came before kij's continue; after continue the cell finished "
                         f"(Out: {d.result}).")
    else:
        part.ok = False
    part.says.append("disconnect ended the debug session." if d.ended else
                     "kij could not confirm the debug session ended (disconnect had no successful reply).")
    part.ok = part.ok and d.ended and all(d.commands.values())


# --- part 5, first: kij connects (iopub_welcome, two protocol versions) -----------


def connect(sn: Sniffer, kernel: Kernel, rec: Recorder, result: ControlResult,
            kernelspec_protocol: str | None) -> dict:
    """kij's sockets connect: kernel_info on control until iopub is live, and the
    kernel's iopub_welcome for each new subscription. Returns kernel_info."""
    part = Part("connect", "kij connects: kernel_info on control, iopub_welcome")
    result.parts.append(part)
    rec.begin(part)
    topic = f"kij-{sn.session[:8]}"
    sn.subscribe(topic)  # a topic no one else has asked for
    info = iopub_live(sn, kernel)
    first_ask = sn.capture[0]  # wait_for_iopub's first kernel_info_request: nothing came before it
    until(sn, kernel, first_ask, f"iopub_welcome for the subscription {topic!r}",
          lambda c: c.msg_type == "iopub_welcome" and c.content.get("subscription") == topic)
    v = result.versions
    v.welcomes = [_welcome(c) for c in sn.capture if c.msg_type == "iopub_welcome"]
    asked = sum(1 for c in sn.capture if c.direction == "to_kernel" and c.msg_type == "kernel_info_request")
    part.says.append(f"kij sent kernel_info_request on control {asked} times: until its iopub subscription was "
                     "proven live, then once more, waiting for that one's status idle, so no broadcast "
                     "about the connection spills into the next part.")
    part.says.append("kij's SUB socket subscribed to every topic ('') and to a topic of its own "
                     f"({topic!r}). The kernel's iopub is an XPUB, which sees subscriptions: it answered each "
                     "new one with an iopub_welcome whose content names the subscription.")
    for w in v.welcomes:
        shape = ("no topic frame — frame 0 is the <IDS|MSG> delimiter" if w.first_role == "delimiter"
                 else f"frame 0 is the topic {w.first_frame!r}, the subscription itself")
        part.says.append(f"iopub_welcome for {w.subscription!r}: {w.frames} frames, {shape}; parent_header "
                         f"{'empty' if w.parent_empty else 'set'}.")
    if not any(w.subscription == "" for w in v.welcomes):
        part.says.append("No welcome for '' reached kij: an XPUB passes a subscription up only when it is "
                         "the first for its topic, and another client of this kernel had subscribed to '' "
                         "moments before.")
    v.kernelspec_protocol, v.reply_protocol = kernelspec_protocol, info.get("protocol_version")
    if v.kernelspec_protocol and v.kernelspec_protocol != v.reply_protocol:
        part.says.append(f"The python3 kernelspec says kernel_protocol_version {v.kernelspec_protocol}; this "
                         f"kernel's kernel_info_reply says protocol_version {v.reply_protocol}. They differ.")
    else:
        part.says.append(f"kernelspec: {v.kernelspec_protocol!r}; kernel_info_reply: {v.reply_protocol!r}.")
    return info


# --- part 5b: signed is not secret --------------------------------------------------


def secrecy(sn: Sniffer, kernel: Kernel, rec: Recorder, result: ControlResult) -> None:
    part = Part("secrecy", "signed is not secret")
    result.parts.append(part)
    rec.begin(part)
    s = result.secrecy
    secret = "kij_secret = 'hunter2'"
    _, done = ask(sn, kernel, "shell", "execute_request", execute_content(secret))
    echoed = _of(done, "execute_input")
    s.read_code = echoed.content.get("code") if echoed else None
    s.signature_hint = (echoed.message.signature[:8].decode() + "…") if echoed else None
    ask(sn, kernel, "shell", "execute_request", execute_content("del kij_secret"))
    part.says.append(f"kij's sniffer read the execute_input the kernel broadcast on iopub: {s.read_code!r}, "
                     f"in clear text, signed {s.signature_hint} — the HMAC proves the sender holds the "
                     "connection key; it hides nothing from any socket on the path.")


def curve(rec: Recorder, result: ControlResult, spec_metadata: dict, encrypted: Kernel | None) -> None:
    part = Part("curve", "CurveZMQ: a third kernel whose sockets encrypt")
    result.parts.append(part)
    rec.begin(part)
    import zmq

    s = result.secrecy
    s.curve_in_pyzmq = bool(zmq.has("curve"))
    s.kernelspec_supports_curve = "curve" in (spec_metadata.get("supported_encryption") or [])
    s.encrypted = encrypted is not None and bool(encrypted.connection_info.get("curve_publickey"))
    if s.encrypted:
        _under_curve(encrypted, rec, s, part)
    else:
        part.ok = False
        s.why_not = (
            "Not shown on this run: a kernel under CurveZMQ. Here pyzmq "
            f"{'has' if s.curve_in_pyzmq else 'lacks'} CURVE and the python3 kernelspec "
            f"{'declares' if s.kernelspec_supports_curve else 'does not declare'} supported_encryption "
            "[\"curve\"]; jupyter_client writes curve keys into the connection file only with both.")
        part.says.append(s.why_not)


def _under_curve(kernel: Kernel, rec: Recorder, s: Secrecy, part: Part) -> None:
    """A third kernel, started with transport_encryption "auto": kij's sockets with the
    connection file's curve keys talk to it; a sniffer without them gets nothing back."""
    import zmq

    keyless_info = {k: v for k, v in kernel.connection_info.items() if not k.startswith("curve_")}
    with Sniffer(kernel.connection_info) as keyed, Sniffer(keyless_info, send_timeout=KEYLESS_WAIT) as keyless:
        rec.add(keyed)
        rec.add(keyless)
        iopub_live(keyed, kernel)
        probe, got = ask(keyed, kernel, "control", "kernel_info_request", {})
        s.keyed_reply_ms = _ms(probe, got.reply)
        _, done = ask(keyed, kernel, "shell", "execute_request", execute_content("kij_secret = 'hunter2'"))
        echoed = _of(done, "execute_input")
        s.keyed_read = echoed.content.get("code") if echoed else None
        try:
            sent, lost = keyless.exchange("control", "kernel_info_request", {}, KEYLESS_WAIT)
        except zmq.Again:  # no connection ever completed to hand the request to
            sent, lost = None, None
        s.keyless_got = "nothing" if lost is None or not lost.messages else f"{len(lost.messages)} message(s)"
        rec.flush()
    part.says.append(
        "Every message above is a third python3 kernel's, started with jupyter_client's transport_encryption "
        "\"auto\": its connection file holds curve_publickey and curve_secretkey, and ipykernel's sockets "
        f"are CurveZMQ servers. kij's sockets, given those keys, had kernel_info_reply in "
        f"{s.keyed_reply_ms:.1f} ms and read the execute_input {s.keyed_read!r} — kij holds the keys, so its sockets decrypt; the bytes "
        "between the two processes are encrypted (kij does not show those).")
    _keyless_says(part, s, rec, sent)


def _keyless_says(part: Part, s: Secrecy, rec: Recorder, sent: Sniffed | None) -> None:
    if sent is None:
        part.says.append(
            "kij's second sniffer, with the HMAC key but without the curve keys, could not even hand a "
            f"kernel_info_request to its control socket within {KEYLESS_WAIT:g} s: no connection to the kernel "
            "completed — a socket without the keys cannot finish the CURVE handshake.")
        return
    seq = next(r.seq for r in rec.capture.messages if r.msg_id == sent.msg_id)
    held = s.keyless_got == "nothing"
    _verdict(part, held,
             f"kij's second sniffer, with the HMAC key but without the curve keys, sent kernel_info_request on "
             f"control (#{seq}) and in {KEYLESS_WAIT:g} s got nothing back: its sockets cannot finish the "
             "CURVE handshake, so the request never reaches the kernel.",
             f"kij's sniffer without the curve keys got {s.keyless_got} back: this run does not show "
             "CurveZMQ shutting it out.")


# --- a kernelspec that asks for interrupt by message --------------------------------


@contextlib.contextmanager
def message_interruptkernelspec() -> Iterator[str]:
    """A private copy of the python3 kernelspec with interrupt_mode "message", in a temp
    dir put first on JUPYTER_PATH while kij looks it up; removed afterwards. Nothing is
    installed into the user's Jupyter directories."""
    spec = kernelspec("python3")
    tmp = Path(tempfile.mkdtemp(prefix="kij-control-"))
    name = f"kij-interrupt-message-{uuid.uuid4().hex[:8]}"
    saved = os.environ.get("JUPYTER_PATH")
    try:
        folder = tmp / "kernels" / name
        folder.mkdir(parents=True)
        doc = copy.deepcopy(spec.to_dict())
        doc["interrupt_mode"] = "message"
        doc["display_name"] = "Python 3 (kij: interrupt by message)"
        (folder / "kernel.json").write_text(json.dumps(doc, indent=1))
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(tmp), saved]))
        yield name
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved
        shutil.rmtree(tmp, ignore_errors=True)


def dumped_cells_dir(pid: int) -> Path:
    """Where ipykernel's debugger writes the cells dumpCell gets (ipykernel/compiler.py:
    get_tmp_directory), in the temp directory the kernel inherited from kij."""
    return Path(tempfile.gettempdir()) / f"ipykernel_{pid}"


def remove_dumped_cells(result: ControlResult) -> None:
    """ipykernel leaves the dumped cells behind when it exits; kij asked for them, kij removes them."""
    for pid in result.kernel_pids:
        if pid:
            shutil.rmtree(dumped_cells_dir(pid), ignore_errors=True)


def _facts(kernel: Kernel, info: dict) -> KernelFacts:
    conn = kernel.connection_info
    return KernelFacts(
        name=kernel.name, connection_file=kernel.connection_file, pid=kernel.pid,
        language=info.get("language_info", {}).get("name"), implementation=info.get("implementation"),
        implementation_version=info.get("implementation_version"), protocol_version=info.get("protocol_version"),
        transport=conn.get("transport", "tcp"), ip=conn.get("ip", ""),
        ports={ch: conn.get(f"{ch}_port") for ch in ("shell", "iopub", "stdin", "control", "hb")},
        signature_scheme=conn.get("signature_scheme", ""), key_hint=trace.key_hint(conn.get("key", "")),
    )


def _encrypted_kernel(stack: contextlib.ExitStack) -> Kernel | None:
    """A python3 kernel under CurveZMQ, still booting (it boots while the other parts run);
    None when this pyzmq has no CURVE (jupyter_client then refuses the policy)."""
    import zmq

    if not zmq.has("curve"):
        return None
    (kernel,) = stack.enter_context(started(["python3"], wait=False, transport_encryption="auto"))
    return kernel


# --- the whole lesson -----------------------------------------------------------------


@timed
def run() -> ControlResult:
    """Boot three python3 kernels (the second asks for interrupt by message, the third
    runs under CurveZMQ and boots while the other parts run), run the parts.
    On a failure the exception carries what was captured so far as `.result`."""
    py = kernelspec("python3")
    result = ControlResult(capture=Capture(takeaway=TAKEAWAY))
    rec = Recorder(result.capture)
    with contextlib.ExitStack() as stack:
        name = stack.enter_context(message_interruptkernelspec())
        by_message_mode = kernelspec(name).interrupt_mode
        result.kernelspec_dir = str(kernelspec(name).resource_dir)
        stack.callback(remove_dumped_cells, result)  # runs after the kernels are shut down
        kernel, other = stack.enter_context(started(["python3", name]))
        encrypted = _encrypted_kernel(stack)
        ours = [k for k in (kernel, other, encrypted) if k is not None]
        result.kernel_pids = [k.pid for k in ours]
        result.connection_files = [k.connection_file for k in ours]
        # kij talks to this kernel through its own sockets only; closing jupyter_client's
        # iopub SUB first lets kij's subscription to '' be the first one again (see connect)
        kernel.client.iopub_channel.stop()
        sn = stack.enter_context(Sniffer(kernel.connection_info))
        rec.add(sn)
        try:
            info = connect(sn, kernel, rec, result, py.to_dict().get("kernel_protocol_version"))
            result.capture.kernel = _facts(kernel, info)
            result.capture.identity, result.capture.session = sn.identity.decode(), sn.session
            with settled(sn, kernel):
                queue(sn, kernel, rec, result)
            with settled(sn, kernel):
                subshells(sn, kernel, rec, result, info)
            with settled(sn, kernel):
                interrupt_by_signal(sn, kernel, rec, result, py.interrupt_mode)
            sn2 = stack.enter_context(Sniffer(other.connection_info))
            rec.add(sn2)
            with settled(sn2, other):
                interrupt_by_message(sn2, other, rec, result, by_message_mode)
            with settled(sn, kernel):
                debugger(sn, kernel, rec, result)
            with settled(sn, kernel):
                secrecy(sn, kernel, rec, result)
            if encrypted is not None:
                ready([encrypted])
            curve(rec, result, py.metadata or {}, encrypted)
        except BaseException as exc:
            if isinstance(exc, KernelFault) and result.parts and len(exc.args) == 1:
                exc.args = (f"{exc.args[0]} (in the part: {result.parts[-1].title})",)  # say which part
            rec.flush()
            _outcomes(result)
            exc.result, exc.capture = result, result.capture  # app.shown_if_it_fails draws the capture
            raise
        rec.flush()
    _outcomes(result)
    return result


def _outcomes(result: ControlResult) -> None:
    """Each part's sentences as its Act's outcome, so `kij frames --load` tells them too."""
    for part, act in zip(result.parts, result.capture.acts):
        # one paragraph: an Act's evidence is for the kernel's own log lines (kij frames labels them so)
        act.outcome, act.ok = " ".join(part.says), part.ok


def check_flags(save: str | None) -> None:
    """kij control's flags, refused before anything boots: --save must be writable."""
    if save:
        trace.check_writable(save)
