"""How much a busy main shell slows control and a subshell: medians, in one run.

Not a test: it prints figures. On one python3 kernel, kij's own sockets (kij.sniffer),
alternating, `--repeat` times:

* kernel_info_request on control, the kernel idle         → its reply
* the same while a cell sleeps on the main shell          → its reply
* an execute_request ("6 * 7") on a subshell, kernel idle → its execute_reply
* the same while a cell sleeps on the main shell          → its execute_reply

Each busy figure is printed against the idle one (the ratio). A sleeping cell is
proved running (its first output arrived) before the request is sent.

    uv run python benchmarks/bench_control.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import statistics

from kij.kernel import started
from kij.lessons.control import answered, ask, execute_content, until
from kij.sniffer import Sniffer

SLEEP_CELL = "import time\nprint('sleeping', flush=True)\ntime.sleep(1)"


def round_trip(sn, kernel, send) -> float:
    """ms from a request leaving kij to its reply arriving (both times from the capture)."""
    req = send()
    reply = answered(sn, kernel, req).reply  # and its status idle
    return (reply.t - req.t) * 1000


def while_busy(sn, kernel, send) -> float:
    """round_trip of send() while a cell sleeps on the main shell; then let the cell end."""
    cell = sn.request("shell", "execute_request", execute_content(SLEEP_CELL))
    until(sn, kernel, cell, "the cell's output", lambda c: c.msg_type == "stream" and c.parent_id == cell.msg_id)
    ms = round_trip(sn, kernel, send)
    answered(sn, kernel, cell)
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with started(["python3"]) as (kernel,), Sniffer(kernel.connection_info) as sn:
        sn.wait_for_iopub()
        subshell_id = ask(sn, kernel, "control", "create_subshell_request", {})[1].reply.content["subshell_id"]

        def control():
            return sn.request("control", "kernel_info_request", {})

        def subshell():
            return sn.request("shell", "execute_request", execute_content("6 * 7"), header={"subshell_id": subshell_id})

        figures: dict[str, list[float]] = {k: [] for k in ("control idle", "control busy",
                                                             "subshell idle", "subshell busy")}
        round_trip(sn, kernel, control), round_trip(sn, kernel, subshell)  # warm up, unmeasured
        for _ in range(args.repeat):
            figures["control idle"].append(round_trip(sn, kernel, control))
            figures["control busy"].append(while_busy(sn, kernel, control))
            figures["subshell idle"].append(round_trip(sn, kernel, subshell))
            figures["subshell busy"].append(while_busy(sn, kernel, subshell))
        ask(sn, kernel, "control", "delete_subshell_request", {"subshell_id": subshell_id})
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(f"python3 kernel, {args.repeat} rounds, medians (a busy main shell sleeps 1 s):")
    for what in ("control", "subshell"):
        idle, busy = med[f"{what} idle"], med[f"{what} busy"]
        request = "kernel_info on control" if what == "control" else "execute on a subshell"
        print(f"  {request:<24} idle {idle:7.2f} ms   main shell busy {busy:7.2f} ms   → {busy / idle:.2f}x")
    for k, v in figures.items():
        print(f"  {k:<14} runs: {', '.join(f'{x:.1f}' for x in v)}")


if __name__ == "__main__":
    main()
