"""Benchmark: the from-scratch kernel against ipykernel, side by side in one run, with plain jupyter_client.

Two figures per kernel — start-up (process launch to the first kernel_info_reply)
and execute round trip (median of N `1+1` executes, request sent to status: idle) —
printed with their ratios. Targets: start-up <= 0.5x ipykernel's; round trip no
slower. A third figure shows output handling: one cell printing 20,000 lines, the
lines that arrived on iopub, in how many stream messages, and how long until idle.
Not a test: numbers depend on the machine; run it and read them.

    uv run python benchmarks/bench_scratch.py [--starts 5] [--executes 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time

from jupyter_client.manager import KernelManager

KERNELS = {"kij-native": "kij-native", "ipykernel": "python3"}


def time_startup(kernel_name: str) -> float:
    """Seconds from launching the process to holding the first kernel_info_reply."""
    km = KernelManager(kernel_name=kernel_name)
    start = time.perf_counter()
    km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # kernels' logs off the table
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)  # sends kernel_info_request until a reply comes back
        return time.perf_counter() - start
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


def time_executes(kernel_name: str, count: int) -> list[float]:
    """Seconds per `1+1`: execute_request sent → execute_reply and status: idle received."""
    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # kernels' logs off the table
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        for _ in range(10):  # warm up
            round_trip(kc)
        return [round_trip(kc) for _ in range(count)]
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


PRINTS = 20_000


def time_prints(kernel_name: str) -> tuple[float, int, int]:
    """One cell printing PRINTS lines: seconds to status: idle, lines received, stream messages."""
    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        start = time.perf_counter()
        msg_id = kc.execute(f"for i in range({PRINTS}):\n    print(i)")
        text, messages = [], 0
        while True:
            msg = kc.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                text.append(msg["content"]["text"])
                messages += 1
            elif msg["content"].get("execution_state") == "idle":
                return time.perf_counter() - start, "".join(text).count("\n"), messages
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


def round_trip(kc) -> float:
    start = time.perf_counter()
    msg_id = kc.execute("1+1")
    kc.get_shell_msg(timeout=10)
    while True:
        msg = kc.get_iopub_msg(timeout=10)
        if msg["parent_header"].get("msg_id") == msg_id and msg["content"].get("execution_state") == "idle":
            return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--executes", type=int, default=200)
    args = parser.parse_args()
    startup, execute = {}, {}
    for label, name in KERNELS.items():  # alternate kernels so drift hits both alike
        startup[label] = [time_startup(name) for _ in range(args.starts)]
    for label, name in KERNELS.items():
        execute[label] = time_executes(name, args.executes)
    prints = {label: time_prints(name) for label, name in KERNELS.items()}

    print(f"start-up to first kernel_info_reply (median of {args.starts})")
    for label in KERNELS:
        print(f"  {label:<12} {statistics.median(startup[label]) * 1000:8.1f} ms")
    ratio = statistics.median(startup["kij-native"]) / statistics.median(startup["ipykernel"])
    print(f"  ratio native/ipykernel: {ratio:.2f}x   (target <= 0.50x)")
    print(f"execute round trip of `1+1` (median of {args.executes})")
    for label in KERNELS:
        print(f"  {label:<12} {statistics.median(execute[label]) * 1000:8.2f} ms")
    ratio = statistics.median(execute["kij-native"]) / statistics.median(execute["ipykernel"])
    print(f"  ratio native/ipykernel: {ratio:.2f}x   (target <= 1.00x)")
    print(f"one cell printing {PRINTS:,} lines")
    for label in KERNELS:
        seconds, lines, messages = prints[label]
        print(f"  {label:<12} {lines:6,} lines in {messages:5,} stream messages, idle after {seconds * 1000:7.1f} ms")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as runtime:  # connection files never outlive the run
        os.environ["JUPYTER_RUNTIME_DIR"] = runtime
        main()
