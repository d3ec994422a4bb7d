"""Time to a ready cluster: kij's against ipyparallel's own, in one run.

Not a test: it prints figures. For 2 and 4 engines, alternating, `--rounds` times:

* kij: `kij.cluster.started(n)` — ipyparallel.Cluster in a private profile, engines
  registering through kij's relay, ready when the Hub has published a
  registration_notification for every engine;
* ipyparallel: `ipcluster start -n N --daemonize` in a fresh profile directory, then
  `Client(...).wait_for_engines(N)` — ready when the Client sees N engines.

Each clock starts before anything is launched and stops at "ready"; stopping is
not timed (kij's is not either). Medians and the ratio are printed.

    uv run python benchmarks/bench_parallel.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kij import cluster

IPCLUSTER = [sys.executable, "-m", "ipyparallel.cluster"]
TIMEOUT = 120


def kij_ready(n: int) -> float:
    t0 = time.perf_counter()
    with cluster.started(n):
        ready = time.perf_counter() - t0
    return ready


def ipcluster_ready(n: int) -> float:
    import ipyparallel as ipp

    profile = tempfile.mkdtemp(prefix="bench-ipcluster-")
    try:
        t0 = time.perf_counter()
        subprocess.run([*IPCLUSTER, "start", f"-n={n}", f"--profile-dir={profile}", "--daemonize"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url_file = Path(profile) / "security" / "ipcontroller-client.json"
        rc = ipp.Client(url_file=str(url_file), profile_dir=profile, timeout=TIMEOUT)
        rc.wait_for_engines(n, timeout=TIMEOUT)
        ready = time.perf_counter() - t0
        rc.close()
        return ready
    finally:
        subprocess.run([*IPCLUSTER, "stop", f"--profile-dir={profile}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"time to a ready cluster, {args.rounds} rounds each, alternating (seconds):")
    for n in (2, 4):
        mine, theirs = [], []
        for _ in range(args.rounds):
            mine.append(kij_ready(n))
            theirs.append(ipcluster_ready(n))
        m, b = statistics.median(mine), statistics.median(theirs)
        print(f"  {n} engines: kij {m:.2f} s  vs  ipcluster start + wait_for_engines {b:.2f} s  →  {m / b:.2f}x")
        print(f"    kij runs:       {', '.join(f'{x:.2f}' for x in mine)}")
        print(f"    ipcluster runs: {', '.join(f'{x:.2f}' for x in theirs)}")


if __name__ == "__main__":
    main()
