"""What kij tap costs: a python3 kernel behind the tap against python3 directly, side by side.

Not a test: it prints figures. One run boots both kernels (python3 and kij-tap, the
same ipykernel behind a proxy) and measures on each, alternating:

* round-trip latency: kernel_info_request on shell → its reply, N times; and
  execute `1` → execute_reply *and* status idle, N times. Medians; the tap's
  added median is the difference (target: <= 0.5 ms).
* iopub throughput: one cell printing 100,000 lines, from execute_request to
  status idle, with every stream message received; best and median of a few runs
  (target: tap >= 0.9x direct).

    uv run python benchmarks/bench_tap.py [--n 300] [--lines 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

LATENCY_TARGET_MS = 0.5
THROUGHPUT_TARGET = 0.9


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
    parser.add_argument("--n", type=int, default=300)
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
                for _ in range(args.n):
                    for name, (_, kc) in kernels.items():
                        times[name].append(probe(kc))
                direct, tapped = statistics.median(times["python3"]), statistics.median(times["kij-tap"])
                added = tapped - direct
                verdict = "met" if added <= LATENCY_TARGET_MS else "NOT met"
                print(f"{label} round trip × {args.n}: direct {direct:.3f} ms, through the tap {tapped:.3f} ms "
                      f"(medians) → added {added:+.3f} ms  (target <= {LATENCY_TARGET_MS} ms: {verdict})")
            rates = {name: [] for name in kernels}
            messages = {}
            for _ in range(args.rounds):
                for name, (_, kc) in kernels.items():
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
