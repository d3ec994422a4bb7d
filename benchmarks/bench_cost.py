"""kij's own cost: CPU (user+sys of the whole process tree, kernels included) beside
wall time, for kij commands against plain jupyter_client scripts doing the same
kernel work — paired A B A B in one run, medians of the pairs.

Not a test: it prints figures.

    uv run python benchmarks/bench_cost.py [--pairs 5] [frames state swap ...]

How the CPU is counted: this process makes itself a child subreaper (Linux prctl),
so every descendant — the command, the kernels it spawns, whatever they spawn —
is reaped here or by a descendant, and its user+sys time lands in this process's
RUSAGE_CHILDREN. A command's CPU is the growth of that figure across its run, once
every descendant has been reaped. (A descendant still running after the command
exits would be waited for, and said: kij promises to leave nothing behind.)
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from timing import HERE, KIJ

PR_SET_CHILD_SUBREAPER = 36

# name → (kij command, plain baseline command, the CPU target kij / plain)
COMMANDS = {
    "frames": (KIJ + ["frames", "--json"], [sys.executable, str(HERE / "bench_frames.py"), "--baseline"], 1.05),
    "state": (KIJ + ["state", "--json"], [sys.executable, str(HERE / "baseline_state.py")], 1.05),
    "swap": (KIJ + ["swap", "--json"], [sys.executable, str(HERE / "baseline_swap.py")], 1.05),
}


def children_cpu() -> float:
    """User+sys seconds of every reaped descendant so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def reap_all() -> list[str]:
    """Wait for every remaining descendant (orphans come to us as subreaper); their names."""
    names = []
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)  # look before reaping
        except ChildProcessError:
            return names
        try:
            names.append(open(f"/proc/{info.si_pid}/comm").read().strip())
        except OSError:
            names.append("?")
        os.waitpid(info.si_pid, 0)


def measure(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole tree) for one run; it must succeed."""
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    code = proc.wait()
    elapsed = time.perf_counter() - t0
    stragglers = reap_all()
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}): {err[-500:].decode(errors='replace')}")
    if stragglers:  # counted all the same; said, since kij promises to leave nothing behind
        print(f"  note: orphaned descendant(s) of {' '.join(cmd[-2:])} reaped after it exited: "
              f"{', '.join(stragglers)}", file=sys.stderr)
    return elapsed, children_cpu() - cpu0


def compare(name: str, pairs: int, env: dict) -> None:
    ours, plain, target = COMMANDS[name]
    measure(ours, env), measure(plain, env)  # warm the file cache, unmeasured
    runs: dict[str, list[tuple[float, float]]] = {"kij": [], "plain": []}
    for _ in range(pairs):
        runs["kij"].append(measure(ours, env))
        runs["plain"].append(measure(plain, env))
    med = {side: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for side, r in runs.items()}
    # the ratio of each pair, then their median: robust to load drifting across the run
    cpu_ratio = statistics.median(k[1] / p[1] for k, p in zip(runs["kij"], runs["plain"]))
    wall_ratio = statistics.median(k[0] / p[0] for k, p in zip(runs["kij"], runs["plain"]))
    verdict = "met" if cpu_ratio <= target else "NOT met"
    print(f"kij {name} --json vs plain jupyter_client, {pairs} pairs A B A B:")
    for side in ("kij", "plain"):
        w, c = med[side]
        each = " ".join(f"{cc:.2f}" for _, cc in runs[side])
        print(f"  {side:<5}  wall {w:5.2f} s   CPU {c:5.2f} s   (CPU runs: {each})")
    print(f"  CPU  kij/plain {cpu_ratio:.2f}x  (target <= {target}x: {verdict});  wall {wall_ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("names", nargs="*", help=f"some of: {' '.join(COMMANDS)} (default: all)")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in COMMANDS]
    if unknown:
        parser.error(f"unknown: {' '.join(unknown)}; choose from {' '.join(COMMANDS)}")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit("cannot become a child subreaper (Linux only): kernels' CPU would go uncounted")
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="kij-bench-") as runtime:
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": runtime}
        for name in args.names or list(COMMANDS):
            compare(name, args.pairs, env)


if __name__ == "__main__":
    main()
