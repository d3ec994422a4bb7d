"""What a kernel spends before its first kernel_info_reply: wall time and the CPU of
its process tree, for the python3 and bash kernels, launched as kij launches them
(jupyter_client's KernelManager, the installed kernelspec) — with the installed
bytecode, and as a machine without it would (every module compiled from source:
PYTHONDONTWRITEBYTECODE set, which the project's machines set, and an empty
PYTHONPYCACHEPREFIX, so no .pyc is found). --imports prints the python3 kernel's
slowest imports (`python -X importtime`, cumulative).

Not a test: it prints figures. Runs alternate, one kernel at a time.

    uv run python benchmarks/bench_boot.py [--rounds 5] [--imports]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time

import psutil
from jupyter_client.manager import KernelManager


def tree_cpu(pid: int) -> float:
    """User+sys seconds of a process and every descendant still running."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            with_children = p.cpu_times()
            total += with_children.user + with_children.system
    except psutil.Error:
        pass
    return total


def first_reply(name: str, env: dict, log) -> tuple[float, float]:
    """Launch `name`; (seconds to its first kernel_info_reply, CPU of its tree by then)."""
    km = KernelManager(kernel_name=name)
    t0 = time.perf_counter()
    km.start_kernel(env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    try:
        deadline = t0 + 60
        while time.perf_counter() < deadline:
            msg_id = kc.kernel_info()
            try:
                while True:
                    reply = kc.get_shell_msg(timeout=0.5)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        return time.perf_counter() - t0, tree_cpu(km.provisioner.pid)
            except Exception:  # queue.Empty: not up yet, ask again
                continue
        raise SystemExit(f"the {name} kernel did not answer within 60 s")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def boots(rounds: int) -> None:
    empty = tempfile.mkdtemp(prefix="kij-no-pyc-")
    cases = {
        "installed bytecode": {**os.environ},
        "no bytecode": {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty},
    }
    with open(os.devnull, "w") as log:
        for name in ("python3", "bash"):
            got = {case: [] for case in cases}
            for _ in range(rounds):
                for case, env in cases.items():
                    got[case].append(first_reply(name, env, log))
            for case, runs in got.items():
                wall = statistics.median(w for w, _ in runs)
                cpu = statistics.median(c for _, c in runs)
                print(f"{name:<8} {case:<19} first kernel_info_reply after {wall:5.2f} s wall, "
                      f"{cpu:5.2f} s CPU  (median of {rounds})")
    os.rmdir(empty)


def imports(top: int = 15) -> None:
    """The python3 kernel's slowest imports, cumulative, as -X importtime reports them."""
    with tempfile.TemporaryFile(mode="w+") as log:
        first_reply("python3", {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}, log)
        log.seek(0)
        rows = []
        for line in log:
            if line.startswith("import time:") and "|" in line:
                _, cumulative, module = line.split("|")
                if cumulative.strip().isdigit():
                    rows.append((int(cumulative), module.rstrip()))
    print(f"python3 kernel: slowest imports (cumulative µs; {len(rows)} modules)")
    for micros, module in sorted(rows, reverse=True)[:top]:
        print(f"  {micros:>9}  {module}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--imports", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    boots(args.rounds)
    if args.imports:
        imports()


if __name__ == "__main__":
    main()
