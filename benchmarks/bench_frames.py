"""`kij frames --json` against a plain jupyter_client + pyzmq script doing the same kernel work.

Not a test: it prints figures. Both sides run as fresh processes (interpreter start
included), alternating, several times; the medians and their ratio are printed.
The same kernel work on both sides: boot a python3 kernel, kernel_info on control,
one heartbeat ping, execute a cell until idle, answer input() over stdin, send a
request with one signature byte changed and a replayed valid request (each followed
by a kernel_info probe on shell), then shut the kernel down.

    uv run python benchmarks/bench_frames.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CODE = "x = 6 * 7; print('the answer is', x); x"
STDIN_CODE = "name = input('name? ')\nprint('hello,', name)"
TARGET = 1.15


# --- the baseline: what a person would write with jupyter_client and pyzmq ----------


def baseline() -> None:
    import zmq
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)

        def reply_to(channel, msg_id):
            while True:
                msg = channel.get_msg(timeout=10)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return msg

        def until_idle(msg_id):
            reply_to(kc.shell_channel, msg_id)
            while True:
                msg = kc.get_iopub_msg(timeout=10)
                if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"):
                    return

        # control
        req = kc.session.msg("kernel_info_request")
        kc.control_channel.send(req)
        reply_to(kc.control_channel, req["header"]["msg_id"])

        # heartbeat, on a raw REQ socket
        hb = zmq.Context.instance().socket(zmq.REQ)
        hb.setsockopt(zmq.LINGER, 0)
        hb.connect(f"tcp://{kc.ip}:{kc.hb_port}")
        hb.send(b"ping")
        assert hb.recv() == b"ping"
        hb.close()

        # execute, with frames we keep for the replay
        content = {"code": CODE, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": True, "stop_on_error": True}
        msg = kc.session.msg("execute_request", content)
        frames = kc.session.serialize(msg)
        kc.shell_channel.socket.send_multipart(frames)
        until_idle(msg["header"]["msg_id"])

        # stdin
        msg_id = kc.execute(STDIN_CODE, allow_stdin=True)
        kc.get_stdin_msg(timeout=10)
        kc.input("Ada")
        until_idle(msg_id)

        # forged, then replayed; a kernel_info probe after each
        forged_msg = kc.session.msg("execute_request", content)
        forged = kc.session.serialize(forged_msg)
        forged[1] = (b"0" if forged[1][:1] != b"0" else b"1") + forged[1][1:]
        for bad in (forged, frames):
            kc.shell_channel.socket.send_multipart(bad)
            probe = kc.kernel_info()
            reply_to(kc.shell_channel, probe)
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


# --- timing -------------------------------------------------------------------------


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        baseline()
        return
    with tempfile.TemporaryDirectory(prefix="kij-bench-") as runtime:
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": runtime}
        kij = [sys.executable, "-m", "kij", "frames", "--json"]
        plain = [sys.executable, os.path.abspath(__file__), "--baseline"]
        timed(kij, env), timed(plain, env)  # warm the file cache; not counted
        times = {"kij": [], "plain": []}
        for _ in range(args.repeat):
            times["kij"].append(timed(kij, env))
            times["plain"].append(timed(plain, env))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["kij"] / med["plain"]
    print(f"boot + control + hb + execute + stdin + forged + replayed + shutdown, {args.repeat} runs each, alternating")
    for name, label in (("kij", "kij frames --json"), ("plain", "jupyter_client + pyzmq")):
        runs = " ".join(f"{t:.2f}" for t in times[name])
        print(f"  {label:<24} median {med[name]:.3f} s   (runs: {runs})")
    verdict = "within" if ratio <= TARGET else "OVER"
    print(f"  ratio kij / plain        {ratio:.2f}x   ({verdict} the {TARGET:.2f}x target)")


if __name__ == "__main__":
    main()
