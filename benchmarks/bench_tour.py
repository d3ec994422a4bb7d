"""`kij tour` against the same lessons run one command at a time — measured in one run.

    uv run python benchmarks/bench_tour.py [--rounds N]

Each round runs `kij repl-diff`, `kij state`, `kij frames` (when this checkout has it),
`kij magics`, `kij swap` and `kij which` one after another, then `kij tour`, all as
real subprocesses with their output thrown away, and prints the wall-clock figures and
the ratio tour / (sum of the commands). With several rounds, each figure is the median.
The tour wins by launching every lesson's kernels up front, so they boot while
earlier lessons run, and by paying kij's own start-up once. Not a test: nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time

COMMANDS = ["repl-diff", "state", "frames", "magics", "swap", "which"]


def available() -> list[str]:
    have_frames = importlib.util.find_spec("kij.lessons.frames") is not None
    return [c for c in COMMANDS if c != "frames" or have_frames]


def timed(*args: str) -> float:
    env = dict(os.environ, COLUMNS="100")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kij", *args], env=env, check=True, timeout=300,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    commands = available()
    print(f"commands one by one: {', '.join('kij ' + c for c in commands)}"
          + ("" if "frames" in commands else "  (no kij frames in this checkout)"))
    alone: dict[str, list[float]] = {c: [] for c in commands}
    tours: list[float] = []
    for _ in range(args.rounds):
        for c in commands:
            alone[c].append(timed(c))
        tours.append(timed("tour"))
    med = {c: statistics.median(v) for c, v in alone.items()}
    total = sum(med.values())
    tour = statistics.median(tours)
    for c in commands:
        print(f"  kij {c:<10} {med[c]:6.2f} s")
    print(f"  {'sum':<14} {total:6.2f} s")
    print(f"kij tour           {tour:6.2f} s")
    print(f"ratio tour / sum   {tour / total:6.2f}x   (target <= 0.70x; {args.rounds} round(s), "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
