"""Side-by-side timing for the benchmarks: run kij and its plain jupyter_client
baseline alternately in the same run, report medians and the ratio.

Benchmarks are scripts, never tests: `uv run python benchmarks/bench_NAME.py`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
KIJ = [sys.executable, "-m", "kij"]


def wall(cmd: list[str], env: dict | None = None) -> float:
    """Seconds one command takes, start to exit; it must succeed."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env={**os.environ, **(env or {})}, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return elapsed


def side_by_side(name: str, ours: list[str], baseline: list[str], rounds: int = 5,
                 target: float | None = None, label: str = "baseline") -> float:
    """Alternate the two commands `rounds` times; print medians and ratio; return it."""
    mine, theirs = [], []
    wall(ours), wall(baseline)  # warm the file cache once, unmeasured
    for _ in range(rounds):
        mine.append(wall(ours))
        theirs.append(wall(baseline))
    m, b = statistics.median(mine), statistics.median(theirs)
    ratio = m / b
    verdict = "" if target is None else (f"  (target <= {target}x: {'met' if ratio <= target else 'NOT met'})")
    print(f"{name}: kij {m:.2f} s  vs  {label} {b:.2f} s  →  {ratio:.2f}x{verdict}")
    print(f"  kij runs:      {', '.join(f'{x:.2f}' for x in mine)}")
    print(f"  {label} runs: {', '.join(f'{x:.2f}' for x in theirs)}")
    return ratio
