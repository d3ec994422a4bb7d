"""What `kij server` costs, and what the server tier costs a cell. Not a test: it prints figures.

1. `kij server` against a plain script doing the same server work in the same run,
   alternating (benchmarks/timing.side_by_side): start jupyter_server, a session on
   kij-tap, a cell over a v1 websocket, a kernel_info_request over a legacy one, save
   and load a notebook, a new websocket reading `secret`, a REST restart, `secret`
   again, shut down. The script uses only the standard library and websocket-client
   (target: kij <= 1.3x).
2. On one python3 kernel behind one jupyter_server: the round trip of `1` over the
   websocket (execute_request → execute_reply and status idle, through the server)
   against the same round trip straight over ZeroMQ (jupyter_client on the kernel's
   connection file), in alternating blocks; medians.

    uv run python benchmarks/bench_server.py [--rounds 3] [--n 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from timing import KIJ, side_by_side  # noqa: E402

BLOCK = 25
BASELINE = HERE / "baseline_server.py"


def round_trips(n: int) -> tuple[list[float], list[float]]:
    """(websocket ms, ZeroMQ ms) for `1`, n each, in alternating blocks on one kernel."""
    from jupyter_client import BlockingKernelClient

    from kij import server as srv

    ws_ms, zmq_ms = [], []
    with srv.started() as server:
        made = server.new_session("bench.ipynb", "python3")
        kid = made["kernel"]["id"]
        ws = server.websocket(kid)
        kc = BlockingKernelClient(connection_file=str(server.runtime / f"kernel-{kid}.json"))
        kc.load_connection_file()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        content = {"code": "1", "silent": False, "store_history": False, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": True}
        try:
            for block in range(0, n, BLOCK):
                for side in (("ws", "zmq") if block // BLOCK % 2 == 0 else ("zmq", "ws")):
                    for _ in range(BLOCK):
                        t = time.perf_counter()
                        if side == "ws":
                            ws.answered(ws.send("shell", "execute_request", content), 60)
                            ws_ms.append((time.perf_counter() - t) * 1000)
                        else:
                            zmq_round_trip(kc, content)
                            zmq_ms.append((time.perf_counter() - t) * 1000)
                ws.messages.clear()
        finally:
            kc.stop_channels()
            ws.close()
    return ws_ms, zmq_ms


def zmq_round_trip(kc, content: dict) -> None:
    """execute_request → its execute_reply and its status idle, straight over ZeroMQ."""
    msg_id = kc.execute(**{k: v for k, v in content.items() if k != "code"}, code=content["code"])
    reply = idle = False
    while not (reply and idle):
        if not reply:
            reply = kc.get_shell_msg(timeout=60)["parent_header"].get("msg_id") == msg_id
        if not idle:
            msg = kc.get_iopub_msg(timeout=60)
            idle = (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    print("1. the whole lesson, kij vs a plain script doing the same server work")
    side_by_side("kij server", [*KIJ, "server"], [sys.executable, str(BASELINE)], rounds=args.rounds,
                 target=1.3, label="plain script")
    print(f"\n2. the round trip of `1` on one python3 kernel, {args.n} each, blocks of {BLOCK}")
    ws_ms, zmq_ms = round_trips(args.n)
    w, z = statistics.median(ws_ms), statistics.median(zmq_ms)
    print(f"websocket (through jupyter_server): median {w:.2f} ms · ZeroMQ direct: median {z:.2f} ms "
          f"→ the server tier adds {w - z:.2f} ms ({w / z:.2f}x)")


if __name__ == "__main__":
    main()
