"""The fault suite's machinery: which commands there are, how to catch a run at a
given moment, and a record of every case for docs/faults.md.

Moments are observed, never slept for:

* booting — a connection file appeared in the run's own runtime directory;
* executing — an `execute_input` crossed the kernel's iopub, seen on a SUB socket
  of the test's own (kij's sockets are not involved);
* shutting down — a `status` message whose parent is a `shutdown_request` crossed
  iopub: the kernel has been asked to exit and kij is inside its shutdown.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from conftest import KIJ_FRAME, wait_until
from kij.sniffer import address


# --- the commands under test ------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A kij command as the fault suite sees it."""

    name: str
    args: tuple[str, ...] = ()
    kernel_flag: bool = False  # takes --kernel NAME
    runs_user_code: bool = False  # takes --code (a cell from the user)
    kernels: int = 1  # how many kernels it starts
    # runs for long (the tour, about a minute of both cores): it gets Ctrl-C while its
    # 13 kernels boot, and not the cases whose path is a single lesson's or every
    # command's (Ctrl-C mid-tour and again while its 13 kernels shut down are in
    # tests/test_tour.py; a dead kernel surfaces from the lesson, tested per command;
    # every part of the tour drawn 20 columns wide is in tests/test_views.py)
    slow: bool = False
    label: str = ""  # how the table names it, when that is not the subcommand
    # asks its kernels one after another, each cell done within a millisecond or two
    # (swap): a kill on the first kernel's execute_input can land after its reply, so
    # the kernel killed "mid-run" is the one kij will ask next
    kill_next: bool = False

    @property
    def title(self) -> str:
        return self.label or self.name


COMMANDS = [
    Command("state"),
    Command("swap", kernel_flag=True, kernels=2, kill_next=True),
    Command("frames", kernel_flag=True, runs_user_code=True),
    Command("repl-diff", runs_user_code=True),
    Command("magics"),
    Command("which", kernel_flag=True, kernels=2),
    Command("tour", kernels=13, slow=True),
    # kij tap: kij frames driving the kij-tap proxy kernel, which runs python3 behind
    # it — every fault then has to cross the proxy (the "kernel" SIGKILLed is the proxy)
    Command("frames", args=("--kernel", "kij-tap"), label="tap (frames via kij-tap)"),
]
BY_NAME = {c.name: c for c in COMMANDS}
WITH_KERNEL_FLAG = [c for c in COMMANDS if c.kernel_flag]


# --- moments, observed --------------------------------------------------------------


def last_connection_file(kij, count: int) -> Path:
    """The connection file written last, once `count` of them exist (kij launches its
    kernels in the order it asks them)."""
    def all_there():
        try:
            files = sorted(kij.connection_files(), key=lambda p: p.stat().st_mtime_ns)
        except FileNotFoundError:
            return None
        return files[-1] if len(files) >= count else None

    return wait_until(all_there, timeout=60, what=f"{count} connection files")


def first_connection_file(kij) -> Path:
    """The first kernel's connection file, once it appeared and was written."""
    def written():
        try:
            files = sorted(kij.connection_files(), key=lambda p: p.stat().st_mtime_ns)
        except FileNotFoundError:  # one went between the listing and the look (the tap's
            return None            # file for its real kernel goes once that kernel read it)
        for f in files:
            try:
                json.loads(f.read_text())
                return f
            except (OSError, ValueError):
                return None
        return None

    return wait_until(written, timeout=60, what="a connection file to be written")


class Iopub:
    """The test's own SUB socket on a kernel's iopub, subscribed to everything.

    It follows the connection file: a kernel that lost the port race at boot is
    relaunched by kij on new ports (kernel.py), and the file is rewritten."""

    SLICE_MS = 250

    def __init__(self, connection_file: Path):
        self.path = connection_file
        self.connected_to = ""
        self.sub = None
        self._follow()

    def _follow(self) -> None:
        try:
            info = json.loads(self.path.read_text())
            where = address(info, "iopub")
        except (OSError, ValueError, KeyError):
            return  # gone or being rewritten: keep what we have
        if where == self.connected_to:
            return
        if self.sub is not None:
            self.sub.close()
        self.sub = zmq.Context.instance().socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.connect(where)
        self.connected_to = where

    def wait_for(self, wanted, timeout: float = 90.0) -> dict:
        """Block until a message for which wanted(msg) is true; msg has msg_type,
        parent_type and content."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sub.poll(self.SLICE_MS):
                msg = parse(self.sub.recv_multipart())
                if msg and wanted(msg):
                    return msg
            else:
                self._follow()
        raise AssertionError("the awaited iopub message never came")

    def close(self) -> None:
        self.sub.close()


def parse(frames: list[bytes]) -> dict | None:
    """Just enough of the wire format to see what a message is and what it answers."""
    try:
        i = frames.index(b"<IDS|MSG>")
        header, parent, _, content = (json.loads(f) for f in frames[i + 2:i + 6])
    except (ValueError, IndexError):
        return None
    return {"msg_type": header.get("msg_type"), "parent_type": parent.get("msg_type"), "content": content}


def is_execute_input(msg: dict) -> bool:
    return msg["msg_type"] == "execute_input"


def is_shutting_down(msg: dict) -> bool:
    return msg["msg_type"] == "status" and msg["parent_type"] == "shutdown_request"


def kernel_pid(connection_file: Path) -> int:
    """The kernel process: the one whose command line names its connection file."""
    needle = str(connection_file).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "cmdline").read_bytes():
                return int(proc.name)
        except OSError:
            continue
    raise AssertionError(f"no process has {connection_file} on its command line")


# --- judging the aftermath ----------------------------------------------------------

# An SGR sequence that sets a colour (foreground, background, 256/truecolor).
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")
ESCAPE = re.compile(r"\x1b")


def has_traceback(stdout: str, stderr: str) -> bool:
    """A Python traceback on stderr, or one through kij's source anywhere."""
    return "Traceback" in stderr or bool(KIJ_FRAME.search(stdout))


def cells(line: str) -> int:
    """How many terminal columns a line takes (wide characters count twice)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in line if unicodedata.category(ch) not in ("Mn", "Me", "Cf"))


def message(stdout: str, stderr: str) -> str:
    """The one line a reader is told: kij's error line, else stderr's last line."""
    for line in stderr.splitlines():
        if line.startswith("kij:"):
            return line[4:].strip()
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


@dataclass
class Outcome:
    command: str
    case: str
    expected: int
    observed: int | None
    message: str
    traceback: bool
    clean: bool
    leftovers: list[str] = field(default_factory=list)


RECORDS: list[Outcome] = []


def judge(kij, command: str, case: str, expected: int, proc: subprocess.Popen | None = None,
          returncode: int | None = None, stdout: str = "", stderr: str = "") -> Outcome:
    """Record a finished run: exit code, message, traceback, and what it left behind."""
    leftovers: list[str] = []
    try:
        kij.assert_clean()
    except AssertionError:
        from conftest import processes_with

        leftovers = processes_with(kij.marker) + [str(p) for p in kij.connection_files()]
    outcome = Outcome(
        command=command, case=case, expected=expected, observed=returncode,
        # the sandbox's own temporary directory is noise in a table
        message=message(stdout, stderr).replace(f"{kij.runtime.parent}/", ""),
        traceback=has_traceback(stdout, stderr),
        clean=not leftovers, leftovers=leftovers,
    )
    RECORDS.append(outcome)
    return outcome


def check(outcome: Outcome, says: str | None, stderr: str) -> None:
    """The promises every case makes."""
    assert outcome.clean, f"left behind: {outcome.leftovers}"
    assert not outcome.traceback, stderr
    assert outcome.observed == outcome.expected, stderr
    if says is not None:
        assert says in stderr, stderr


def table_markdown(records: list[Outcome]) -> str:
    """One row per case, grouped by command in COMMANDS order, cases in run order."""
    order = {c.title: i for i, c in enumerate(COMMANDS)}
    records = sorted(records, key=lambda r: order.get(r.command, len(order)))
    rows = ["| command | case | expected | observed | message (stderr) | traceback | left behind |",
            "|---|---|---|---|---|---|---|"]
    for r in records:
        msg = r.message.replace("|", "\\|")
        if len(msg) > 110:
            msg = msg[:107] + "…"
        ok = "" if r.observed == r.expected else " ✗"
        rows.append(
            f"| {r.command} | {r.case} | {r.expected} | {r.observed}{ok} | {msg or '—'} | "
            f"{'yes ✗' if r.traceback else 'no'} | {'nothing' if r.clean else 'YES ✗'} |"
        )
    return "\n".join(rows) + "\n"


def write_table(path: str | os.PathLike) -> None:
    Path(path).write_text(table_markdown(RECORDS))
