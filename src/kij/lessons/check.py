"""Lesson `check`: run a build-track step for real and say whether it does what the step asks.

What the learner should feel: their twenty lines of pyzmq are a kernel, because a
real client (jupyter_client, with a real signed session) talks to the real process
and gets real answers. Each step's checks are the previous steps' checks plus its
own, so a step passes only if everything before it still works.

`run(step)` does the work and returns a `CheckResult`; `steps()` lists the track
(what `kij check` with no step shows). Never prints (views/check.py renders both).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.connect import write_connection_file
from jupyter_client.session import Session

from kij import wire
from kij.client import Client
from kij.errors import UserError
from kij.kernel import POLL_MS, Exchange, await_reply, poll_channels

TIMEOUT = 10.0  # seconds to wait for any one answer from the learner's process
STARTUP_TIMEOUT = 10.0  # seconds for the first answer, which waits for the script to start too


@dataclass(frozen=True)
class BuildStep:
    number: int
    slug: str
    title: str
    needs: str  # what the step must do to pass, in one sentence


STEPS = [
    BuildStep(1, "01_read_eval_loop", "read-eval loop on stdin",
         "read code from stdin, run it in a persistent namespace, print the repr of a trailing expression, exit on EOF"),
    BuildStep(2, "02_sockets_and_heartbeat", "bind the five sockets, echo heartbeats",
         "read -f CONNECTION_FILE, bind shell/control/stdin (ROUTER), iopub (PUB), hb (REP), echo every ping on hb"),
    BuildStep(3, "03_sign_and_verify", "sign and verify messages",
         "print 'accepted <msg_type>' for each properly signed shell message, 'rejected: <why>' for forged or replayed ones"),
    BuildStep(4, "04_kernel_info", "kernel_info on shell and control",
         "answer kernel_info_request on shell and control, with status busy/idle on iopub around it"),
    BuildStep(5, "05_execute", "execute with execute_input / stream / execute_result",
         "run execute_request in a namespace that persists, publishing execute_input, stdout streams and execute_result"),
    BuildStep(6, "06_errors_and_friends", "errors, complete, inspect, is_complete",
         "turn exceptions into an iopub error + error reply; answer complete, inspect and is_complete requests"),
    BuildStep(7, "07_full_kernel", "the full kernel: interrupts, stdin, history, shutdown",
         "raise KeyboardInterrupt on SIGINT while running, ask for input() over stdin, keep history, exit on shutdown_request"),
]


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class CheckResult:
    step: BuildStep
    script: Path
    checks: list[Check] = field(default_factory=list)
    kernel_log: list[str] = field(default_factory=list)  # the process's own stderr, as evidence
    next_step: BuildStep | None = None
    passed: bool = False  # every check ran and passed


class Failed(Exception):
    """A check's expectation was not met; the message says what was seen instead."""


class UnknownStep(UserError):
    """No build step by that name (exit 2)."""


@dataclass
class StepList:
    """The build track, for `kij check` with no step: each step, its solution and its starter."""
    steps: list[BuildStep]
    solutions: list[Path]
    starters: list[Path]


def steps() -> StepList:
    return StepList(STEPS, [default_script(s) for s in STEPS], [starter_script(s) for s in STEPS])


def find_step(name: str) -> BuildStep:
    """'3', '03' or '03_sign_and_verify' → the BuildStep; UnknownStep otherwise."""
    for step in STEPS:
        if name.lstrip("0") == str(step.number) or name in (step.slug, f"{step.slug}.py"):
            return step
    raise UnknownStep(f"unknown step {name!r}: choose 1–{len(STEPS)}")


def default_script(step: BuildStep) -> Path:
    """demos/build/<slug>.py (the solution) under the current directory, else beside the kij source tree."""
    return build_file(f"{step.slug}.py")


def starter_script(step: BuildStep) -> Path:
    """demos/build/starters/<slug>.py: the step with the parts to write marked TODO."""
    return build_file(f"starters/{step.slug}.py")


def build_file(relative: str) -> Path:
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = root / "demos" / "build" / relative
        if candidate.exists():
            return candidate
    return Path.cwd() / "demos" / "build" / relative


def run(step_name: str, script: Path | None = None,
        on_check: Callable[[str], None] | None = None) -> CheckResult:
    """Run the step's script (the shipped one, or the learner's own) and check it.
    on_check(name) is called as each check starts (the CLI's spinner shows it)."""
    on_check = on_check or (lambda name: None)
    step = find_step(step_name)
    script = Path(script) if script else default_script(step)
    if not script.exists():
        raise UserError(f"{script} not found; pass your own script with --file")
    result = CheckResult(step, script, next_step=next((s for s in STEPS if s.number == step.number + 1), None))
    if step.number == 1:
        on_check("the read-eval loop, fed five lines on stdin")
        checks, result.kernel_log = check_repl(script)
        result.checks.extend(checks)
    else:
        on_check("starting the script with a fresh connection file")
        with running_kernel_script(script) as process:
            for name, check in kernel_checks(step.number):
                on_check(name)
                result.checks.append(run_one(name, check, process))
                if not result.checks[-1].passed:
                    break  # later checks build on earlier ones
            result.kernel_log = process.stderr_lines()
    result.passed = bool(result.checks) and all(c.passed for c in result.checks)
    return result


def run_one(name: str, check: Callable, process: "ScriptProcess") -> Check:
    try:
        return Check(name, True, check(process))
    except Failed as failure:
        return Check(name, False, str(failure))
    except queue.Empty:
        return Check(name, False, f"no answer within {TIMEOUT:.0f}s" + exited(process))
    except Unanswered as missing:
        return Check(name, False, f"{missing} within {TIMEOUT:.0f}s" + exited(process))
    except Exception as error:  # the learner's process can misbehave in any way; report it
        return Check(name, False, f"{type(error).__name__}: {error}")


# ------------------------------------------------------------------ step 01


def check_repl(script: Path) -> tuple[list[Check], list[str]]:
    """Feed five lines on stdin; the checks, and the last lines of the script's stderr."""
    session = "x = 6 * 7\nx\nprint('hello, ' + 'world')\nnames = [n for n in 'ab']\nnames\n"
    try:
        done = subprocess.run([sys.executable, str(script)], input=session, capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return [Check("exits on EOF", False, f"still running {TIMEOUT:.0f}s after stdin closed")], []
    checks = [Check("exits on EOF", done.returncode == 0, f"exit code {done.returncode}")]
    checks.append(expect_in(done.stdout, "42", "a trailing expression's value is printed"))
    checks.append(expect_in(done.stdout, "hello, world", "print() output appears"))
    checks.append(expect_in(done.stdout, "['a', 'b']", "the namespace persists between inputs"))
    return checks, done.stderr.splitlines()[-20:]


def expect_in(output: str, text: str, name: str) -> Check:
    return Check(name, text in output, f"saw {output[-200:]!r}" if text not in output else "")


# ------------------------------------------------------------------ kernel steps


class ScriptProcess:
    """The learner's script, started like Jupyter starts a kernel: `python SCRIPT -f CONNECTION_FILE`."""

    def __init__(self, script: Path, connection_file: str, info: dict):
        self.info = info
        self.connection_file = connection_file
        self.session = Session(key=wire.key_bytes(info["key"]), signature_scheme=info["signature_scheme"])
        self.popen = subprocess.Popen([sys.executable, str(script), "-f", connection_file],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      stdin=subprocess.DEVNULL)
        self.stdout: queue.Queue[str] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.popen.stdout, self.stdout.put), daemon=True).start()
        threading.Thread(target=self._read, args=(self.popen.stderr, self._stderr.append), daemon=True).start()
        self.context = zmq.Context()
        self.client = Client(connection_file=connection_file, context=self.context)
        self.client.load_connection_file()

    @staticmethod
    def _read(stream, sink) -> None:
        for line in stream:
            sink(line.rstrip("\n"))

    def returncode(self) -> int | None:
        return self.popen.poll()

    def stderr_lines(self) -> list[str]:
        return list(self._stderr[-20:])

    def url(self, channel: str) -> str:
        return f"{self.info['transport']}://{self.info['ip']}:{self.info[channel + '_port']}"

    def stop(self) -> None:
        self.client.stop_channels()
        self.context.destroy(linger=0)
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@contextmanager
def running_kernel_script(script: Path):
    """Start the script with a fresh connection file; stop it and delete the file on every path."""
    handle, connection_file = tempfile.mkstemp(prefix="kij-check-", suffix=".json")
    os.close(handle)
    process = None
    try:
        _, info = write_connection_file(connection_file, ip="127.0.0.1", key=uuid.uuid4().hex.encode())
        process = ScriptProcess(script, connection_file, info)
        yield process
    finally:
        if process is not None:
            process.stop()
        Path(connection_file).unlink(missing_ok=True)


def kernel_checks(number: int) -> list[tuple[str, Callable]]:
    checks = [("heartbeat echoes a ping", check_heartbeat), ("all five ports are bound", check_ports)]
    if number == 3:
        checks.append(("signed messages accepted, forged and replayed rejected", check_sign_verify_log))
    if number >= 4:
        checks.append(("kernel_info_request answered on shell", check_kernel_info_shell))
        checks.append(("kernel_info_request answered on control", check_kernel_info_control))
        checks.append(("forged and replayed requests get no reply", check_forgery_ignored))
    if number >= 5:
        checks.append(("execute_request runs code, namespace persists", check_execute))
    if number >= 6:
        checks.append(("an exception becomes an error reply + iopub error", check_error))
        checks.append(("complete, inspect and is_complete answered", check_friends))
    if number >= 7:
        checks.append(("SIGINT interrupts running code", check_interrupt))
        checks.append(("input() goes over the stdin channel", check_stdin))
        checks.append(("history_request returns what ran", check_history))
        checks.append(("shutdown_request ends the process", check_shutdown))
    return checks


def check_heartbeat(process: ScriptProcess) -> str:
    """The first check: its wait also covers the script's start-up (Python and its
    imports, slow on a loaded machine), and ends early if the script exits."""
    wait = max(TIMEOUT, STARTUP_TIMEOUT)
    with process.context.socket(zmq.REQ) as hb:
        hb.linger = 0
        hb.connect(process.url("hb"))
        hb.send(b"ping")
        deadline = time.monotonic() + wait
        while not hb.poll(POLL_MS):
            if process.returncode() is not None:
                raise Failed("no echo on the hb port" + exited(process))
            if time.monotonic() > deadline:
                raise Failed(f"no echo on the hb port within {wait:.0f}s")
        echoed = hb.recv()
    if echoed != b"ping":
        raise Failed(f"sent b'ping', got {echoed!r} back")
    return "b'ping' came back"


def check_ports(process: ScriptProcess) -> str:
    """A port the script has bound cannot be bound again: try each one."""
    free = []
    for channel in ("shell", "control", "stdin", "iopub", "hb"):
        with process.context.socket(zmq.PUB) as probe:
            probe.linger = 0
            try:
                probe.bind(process.url(channel))
                free.append(channel)
            except zmq.ZMQError:
                pass
    if free:
        raise Failed(f"nothing bound on the {', '.join(free)} port(s)")
    return "shell, control, stdin, iopub, hb"


def exited(process: ScriptProcess) -> str:
    code = process.returncode()
    return "" if code is None else f" (the script exited with code {code})"


def signed(process: ScriptProcess, msg_type: str, content: dict, session: Session | None = None) -> list[bytes]:
    session = session or process.session
    return session.serialize(session.msg(msg_type, content))


def check_sign_verify_log(process: ScriptProcess) -> str:
    with process.context.socket(zmq.DEALER) as shell:
        shell.linger = 0
        shell.connect(process.url("shell"))
        good = signed(process, "kernel_info_request", {})
        forger = Session(key=b"not-the-key", signature_scheme=process.info["signature_scheme"])
        shell.send_multipart(good)
        expect_line(process, "accepted kernel_info_request", "a properly signed kernel_info_request")
        shell.send_multipart(signed(process, "execute_request", {"code": "1"}, forger))
        expect_line(process, "rejected", "a message signed with the wrong key")
        shell.send_multipart(good)
        expect_line(process, "rejected", "the first message sent again (a replay)")
    return "accepted, rejected (forged), rejected (replay)"


def expect_line(process: ScriptProcess, start: str, what: str) -> None:
    line = process.stdout.get(timeout=TIMEOUT)
    if not line.startswith(start):
        raise Failed(f"for {what} expected a line starting {start!r}, printed {line!r}")


def started_client(process: ScriptProcess) -> BlockingKernelClient:
    if not process.client.channels_running:
        process.client.start_channels()
    return process.client


class Unanswered(Exception):
    """What the learner's process never sent back: "no kernel_info_reply", …"""


def answered(kc: BlockingKernelClient, msg_id: str, reply_type: str, channel: str = "shell",
             need_idle: bool = False) -> Exchange:
    """Wait for the reply to a request just sent (and, with need_idle, its `status: idle`):
    kij's one send-and-wait, `kij.kernel.await_reply`, on the learner's process."""
    channels = (channel, "iopub") if need_idle else (channel,)
    exchange = await_reply(lambda ms: poll_channels(kc, ms, channels), msg_id, reply_type, TIMEOUT,
                           channel, need_idle=need_idle)
    if exchange.reply is None or (need_idle and not exchange.idle):
        raise Unanswered(exchange.missing(need_idle))
    return exchange


def reply_to(kc: BlockingKernelClient, msg_id: str, reply_type: str, channel: str = "shell") -> dict:
    """The reply to a request just sent."""
    return answered(kc, msg_id, reply_type, channel).reply.msg


def iopub_of(exchange: Exchange) -> list[dict]:
    """Every iopub message for the request, in order, through its status: idle."""
    return [m.msg for m in exchange.messages if m.channel == "iopub"]


def check_kernel_info_shell(process: ScriptProcess) -> str:
    kc = started_client(process)
    kc.wait_for_ready(timeout=TIMEOUT)  # kernel_info until a reply and an iopub message arrive
    exchange = answered(kc, kc.kernel_info(), "kernel_info_reply", need_idle=True)
    content = exchange.reply.content
    missing = [k for k in ("protocol_version", "implementation", "language_info", "banner") if k not in content]
    if missing or content.get("status") != "ok":
        raise Failed(f"reply lacks {missing or 'status: ok'}: {content}")
    states = [m["content"].get("execution_state") for m in iopub_of(exchange) if m["msg_type"] == "status"]
    if states[:1] != ["busy"]:
        raise Failed(f"iopub status for the request went {states}, expected busy then idle")
    return f"{content['implementation']} speaks protocol {content['protocol_version']}; iopub busy → idle"


def check_kernel_info_control(process: ScriptProcess) -> str:
    kc = started_client(process)
    msg = kc.session.msg("kernel_info_request", {})
    kc.control_channel.send(msg)
    reply = reply_to(kc, msg["header"]["msg_id"], "kernel_info_reply", "control")
    if reply["msg_type"] != "kernel_info_reply":
        raise Failed(f"got {reply['msg_type']} on control")
    return "kernel_info_reply on control"


def check_forgery_ignored(process: ScriptProcess) -> str:
    """Replies come in order: if the valid request's reply arrives first, the forged ones got none."""
    forger = Session(key=b"not-the-key", signature_scheme=process.info["signature_scheme"])
    with process.context.socket(zmq.DEALER) as raw:
        raw.linger = 0
        raw.connect(process.url("shell"))
        raw.send_multipart(forger.serialize(forger.msg("kernel_info_request", {})))
        replay = signed(process, "kernel_info_request", {})
        raw.send_multipart(replay)
        raw.send_multipart(replay)
        honest = signed(process, "kernel_info_request", {}, process.session)
        honest_id = process.session.deserialize(honest[1:])["header"]["msg_id"]
        raw.send_multipart(honest)
        answered = []
        while raw.poll(TIMEOUT * 1000):
            reply = process.session.deserialize(process.session.feed_identities(raw.recv_multipart())[1])
            answered.append(reply["parent_header"].get("msg_id"))
            if answered[-1] == honest_id:
                break
    if answered != [process.session.deserialize(replay[1:])["header"]["msg_id"], honest_id]:
        raise Failed(f"expected replies to the first copy and the honest request only; got {len(answered)} replies")
    return "the forged message and the replay were ignored"


def execute(kc: BlockingKernelClient, code: str, **options) -> tuple[dict, list[dict]]:
    exchange = answered(kc, kc.execute(code, **options), "execute_reply", need_idle=True)
    return exchange.reply.msg, iopub_of(exchange)


def of_type(messages: list[dict], msg_type: str) -> list[dict]:
    return [m for m in messages if m["msg_type"] == msg_type]


def check_execute(process: ScriptProcess) -> str:
    kc = started_client(process)
    reply, iopub = execute(kc, "x = 6 * 7\nprint('hello, world')\nx")
    if reply["content"].get("status") != "ok":
        raise Failed(f"execute_reply status {reply['content'].get('status')!r}")
    if not of_type(iopub, "execute_input"):
        raise Failed("no execute_input on iopub")
    if not any("hello, world" in m["content"].get("text", "") for m in of_type(iopub, "stream")):
        raise Failed("the printed 'hello, world' never arrived as a stream message")
    results = [m["content"]["data"].get("text/plain") for m in of_type(iopub, "execute_result")]
    if results != ["42"]:
        raise Failed(f"expected one execute_result '42', got {results}")
    count = reply["content"].get("execution_count")
    reply, iopub = execute(kc, "x + 1")
    results = [m["content"]["data"].get("text/plain") for m in of_type(iopub, "execute_result")]
    if results != ["43"]:
        raise Failed(f"the namespace did not persist: `x + 1` gave {results}")
    if reply["content"].get("execution_count") != count + 1:
        raise Failed("execution_count did not go up by one")
    return "stream 'hello, world', Out 42, then 43"


def check_error(process: ScriptProcess) -> str:
    kc = started_client(process)
    reply, iopub = execute(kc, "1 / 0")
    errors = of_type(iopub, "error")
    if reply["content"].get("status") != "error" or reply["content"].get("ename") != "ZeroDivisionError":
        raise Failed(f"execute_reply was {reply['content']}")
    if not errors or errors[0]["content"].get("ename") != "ZeroDivisionError":
        raise Failed("no iopub error message with ename ZeroDivisionError")
    reply, _ = execute(kc, "2 + 2")
    if reply["content"].get("status") != "ok":
        raise Failed("the kernel did not recover after the error")
    return "ZeroDivisionError reported, kernel carries on"


def check_friends(process: ScriptProcess) -> str:
    kc = started_client(process)
    matches = reply_to(kc, kc.complete("pri"), "complete_reply")["content"].get("matches", [])
    if "print" not in matches:
        raise Failed(f"complete 'pri' gave {matches[:10]}")
    found = reply_to(kc, kc.inspect("print"), "inspect_reply")["content"]
    if not found.get("found") or "text/plain" not in found.get("data", {}):
        raise Failed(f"inspect 'print' gave {found}")
    verdicts = {code: reply_to(kc, kc.is_complete(code), "is_complete_reply")["content"].get("status")
                for code in ("x = 1", "def f():", "1 +* 2")}
    if list(verdicts.values()) != ["complete", "incomplete", "invalid"]:
        raise Failed(f"is_complete said {verdicts}")
    return "print completes and inspects; complete / incomplete / invalid"


def check_interrupt(process: ScriptProcess) -> str:
    kc = started_client(process)
    msg_id = kc.execute("import time\nprint('started')\ntime.sleep(60)")
    while True:  # wait until the sleep is under way
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["msg_type"] == "stream" and "started" in msg["content"]["text"]:
            break
    process.popen.send_signal(2)  # SIGINT, as jupyter_client's signal-mode interrupt does
    reply = reply_to(kc, msg_id, "execute_reply")
    if reply["content"].get("ename") != "KeyboardInterrupt":
        raise Failed(f"after SIGINT the reply was {reply['content'].get('status')} {reply['content'].get('ename')}")
    return "time.sleep(60) ended in KeyboardInterrupt"


def check_stdin(process: ScriptProcess) -> str:
    kc = started_client(process)
    msg_id = kc.execute("input('name? ').upper()", allow_stdin=True)
    request = kc.get_stdin_msg(timeout=TIMEOUT)
    if request["msg_type"] != "input_request":
        raise Failed(f"expected input_request on stdin, got {request['msg_type']}")
    kc.input("ada")
    iopub = iopub_of(answered(kc, msg_id, "execute_reply", need_idle=True))
    results = [m["content"]["data"]["text/plain"] for m in of_type(iopub, "execute_result")]
    if results != ["'ADA'"]:
        raise Failed(f"input() returned something else: {results}")
    return "input_request out, input_reply back"


def check_history(process: ScriptProcess) -> str:
    kc = started_client(process)
    execute(kc, "history_marker = 1")
    reply = reply_to(kc, kc.history(hist_access_type="tail", n=3, output=False, raw=True), "history_reply")
    sources = [entry[2] for entry in reply["content"].get("history", [])]
    if "history_marker = 1" not in sources:
        raise Failed(f"tail of history was {sources}")
    return "the last cell is in the tail"


def check_shutdown(process: ScriptProcess) -> str:
    kc = started_client(process)
    msg = kc.session.msg("shutdown_request", {"restart": False})
    kc.control_channel.send(msg)
    reply_to(kc, msg["header"]["msg_id"], "shutdown_reply", "control")
    try:
        code = process.popen.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failed(f"still running {TIMEOUT:.0f}s after shutdown_reply") from None
    return f"exited with code {code}"


def check_flags(step_name: str | None, script: Path | None) -> None:
    """kij check's flags, refused before anything runs: --file is a script for one step."""
    if step_name is None and script:
        raise UserError("--file needs a step: kij check N --file mine.py")
