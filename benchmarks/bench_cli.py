"""How fast kij answers a person: `--help` wall time, and for a command that boots
kernels, the time to its first byte on the terminal and, after Ctrl-C, to its first
word about stopping and to its exit.

A benchmark, never a test: `uv run python benchmarks/bench_cli.py [ROUNDS]`.
Targets (issue 11): per-command --help <= 0.3 s; first output <= 0.5 s.
The command runs on a pseudo-terminal, as it does for a person, so the spinner
(stderr, terminals only) counts as output.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from timing import wall

SCRIPT = Path(sys.executable).with_name("kij")
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 7


def help_times() -> None:
    uv = shutil.which("uv") or "uv"
    cases = [
        ("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"]),
        ("kij --help", [str(SCRIPT), "--help"]),
        ("kij frames --help", [str(SCRIPT), "frames", "--help"]),
        ("kij tour --help", [str(SCRIPT), "tour", "--help"]),
        ("uv run kij frames --help", [uv, "run", "kij", "frames", "--help"]),
    ]
    for label, cmd in cases:
        wall(cmd)  # warm the file cache, unmeasured
        runs = [wall(cmd) for _ in range(ROUNDS)]
        print(f"{label:36} median {statistics.median(runs) * 1000:5.0f} ms, max {max(runs) * 1000:5.0f} ms")


def read_until(fd: int, proc: subprocess.Popen, done, deadline: float) -> tuple[bytes, float | None]:
    """Read the terminal until done(text) holds; return the text and when it did."""
    seen = b""
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.05)[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the process closed the terminal
                return seen, None
            if done(seen):
                return seen, time.perf_counter()
        elif proc.poll() is not None:
            return seen, None
    return seen, None


def first_output_and_stop(args: list[str], stop_after: bytes) -> tuple[float, float, float]:
    """Seconds to first byte; then, once `stop_after` is on screen, Ctrl-C: seconds
    to the word 'stopping' and to exit."""
    master, slave = pty.openpty()
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(SCRIPT), *args], stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, "COLUMNS": "80"})
    os.close(slave)
    try:
        seen, first = read_until(master, proc, lambda s: len(s) > 0, time.monotonic() + 60)
        seen, _ = read_until(master, proc, lambda s: stop_after in s, time.monotonic() + 120)
        t_int = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        _, stopping = read_until(master, proc, lambda s: b"stopping" in s, time.monotonic() + 60)
        proc.wait(timeout=60)
        t_exit = time.perf_counter()
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return ((first or t_exit) - t0, ((stopping or t_exit) - t_int), t_exit - t_int)


def first_output_times() -> None:
    for label, args, marker in [("kij frames", ["frames"], b"booting"),
                                ("kij tour", ["tour"], b"1/6")]:
        runs = [first_output_and_stop(args, marker) for _ in range(max(3, ROUNDS // 2))]
        first, stopping, gone = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"{label:12} first output {first * 1000:5.0f} ms; after Ctrl-C: "
              f"'stopping' {stopping * 1000:5.0f} ms, exit {gone * 1000:5.0f} ms")


if __name__ == "__main__":
    help_times()
    first_output_times()
