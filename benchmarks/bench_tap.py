"""What kij tap costs: a python3 kernel behind the tap against python3 directly, side by side.

Not a test: it prints figures. One run boots both kernels (python3 and kij-tap, the
same ipykernel behind a proxy) and measures on each, alternating:

* round-trip latency: kernel_info_request on shell → its reply, N times; and
  execute `1` → execute_reply *and* status idle, N times. Medians; the tap's
  added latency is the median, over block pairs, of the difference between the two
  blocks' medians: robust to the machine's own drift (target: <= 0.5 ms).
  In blocks of BLOCK round trips per kernel, alternating which goes first — not
  one-and-one: the tap's recorder writes its records once the wire has been quiet
  for a few ms, and with one-and-one it would do that work while the *direct*
  kernel is being timed, charging the tap's cost to the wrong column. In blocks,
  the recorder's backlog builds up during the tap's own block and is written in it
  (every TAKEN_MAX copies): that shows in the tap's mean, p95 and max, printed too.
* iopub throughput: one cell printing 100,000 lines, from execute_request to
  status idle, with every stream message received; best and median of a few runs
  (target: tap >= 0.9x direct).

    uv run python benchmarks/bench_tap.py [--n 1000] [--lines 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

LATENCY_TARGET_MS = 0.5
THROUGHPUT_TARGET = 0.9
BLOCK = 50  # round trips in a row on one kernel, then the other


def order(kernels: dict, i: int) -> list[str]:
    """Which kernel goes first in block i: alternating, so neither always follows the other."""
    names = list(kernels)
    return names if i % 2 == 0 else names[::-1]


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1]


def boot(name: str):
    from jupyter_client.manager import start_new_kernel

    return start_new_kernel(kernel_name=name, startup_timeout=60)


def kernel_info_round_trip(kc) -> float:
    t0 = time.perf_counter()
    msg_id = kc.kernel_info()
    while kc.get_shell_msg(timeout=10)["parent_header"].get("msg_id") != msg_id:
        pass
    return (time.perf_counter() - t0) * 1000


def until_idle(kc, msg_id: str, count_streams: bool = False) -> int:
    """Wait for msg_id's status idle on iopub; return how many stream messages came."""
    streams = 0
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            streams += 1
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return streams


def execute_round_trip(kc) -> float:
    t0 = time.perf_counter()
    msg_id = kc.execute("1")
    while kc.get_shell_msg(timeout=10)["parent_header"].get("msg_id") != msg_id:
        pass
    until_idle(kc, msg_id)
    return (time.perf_counter() - t0) * 1000


def stream(kc, lines: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    msg_id = kc.execute(f"for i in range({lines}): print(i)")
    n = until_idle(kc, msg_id, count_streams=True)
    return time.perf_counter() - t0, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as runtime:
        os.environ["JUPYTER_RUNTIME_DIR"] = runtime  # the tap's trace goes here too
        kernels = {name: boot(name) for name in ("python3", "kij-tap")}
        try:
            for _, kc in kernels.values():  # warm both up, unmeasured
                for _ in range(20):
                    kernel_info_round_trip(kc)
                    execute_round_trip(kc)
            for label, probe in (("kernel_info", kernel_info_round_trip), ("execute `1`", execute_round_trip)):
                times = {name: [] for name in kernels}
                block_added = []  # per block: the tap's median minus the direct median
                for block in range(max(1, args.n // BLOCK)):
                    medians = {}
                    for name in order(kernels, block):
                        _, kc = kernels[name]
                        block_times = [probe(kc) for _ in range(BLOCK)]
                        times[name].extend(block_times)
                        medians[name] = statistics.median(block_times)
                    block_added.append(medians["kij-tap"] - medians["python3"])
                direct, tapped = times["python3"], times["kij-tap"]
                added = statistics.median(block_added)
                verdict = "met" if added <= LATENCY_TARGET_MS else "NOT met"
                low, high = (statistics.quantiles(block_added, n=4)[i] for i in (0, 2)) if len(block_added) > 1 else (added, added)
                print(f"{label} round trip × {len(direct)}: direct {statistics.median(direct):.3f} ms, "
                      f"through the tap {statistics.median(tapped):.3f} ms (medians) → added {added:+.3f} ms  "
                      f"(median over {len(block_added)} block pairs, quartiles {low:+.3f} … {high:+.3f}; "
                      f"target <= {LATENCY_TARGET_MS} ms: {verdict})")
                print(f"  means {statistics.fmean(direct):.3f} → {statistics.fmean(tapped):.3f} ms "
                      f"(added {statistics.fmean(tapped) - statistics.fmean(direct):+.3f}: includes the "
                      f"recorder's deferred writing); p95 {percentile(direct, 95):.3f} → {percentile(tapped, 95):.3f} ms; "
                      f"max {max(direct):.1f} → {max(tapped):.1f} ms")
            rates = {name: [] for name in kernels}
            messages = {}
            for round_ in range(args.rounds):
                for name in order(kernels, round_):
                    _, kc = kernels[name]
                    seconds, n = stream(kc, args.lines)
                    rates[name].append(args.lines / seconds)
                    messages[name] = n
            for name in kernels:
                print(f"  {name:<8} {args.lines:,} lines: "
                      f"{', '.join(f'{r:,.0f}' for r in rates[name])} lines/s "
                      f"({messages[name]} stream messages)")
            ratio = statistics.median(rates["kij-tap"]) / statistics.median(rates["python3"])
            verdict = "met" if ratio >= THROUGHPUT_TARGET else "NOT met"
            print(f"iopub stream throughput, {args.lines:,} printed lines: tap/direct = {ratio:.2f}x "
                  f"(medians of {args.rounds})  (target >= {THROUGHPUT_TARGET}x: {verdict})")
        finally:
            for km, kc in kernels.values():
                kc.stop_channels()
                km.shutdown_kernel()


if __name__ == "__main__":
    main()
