"""03 — Watch the raw ZeroMQ frames of one execute_request.

    uv run python demos/03_frames.py

We boot a kernel, open OUR OWN zmq sockets on its shell and iopub ports, sign one
execute_request with the key from the connection file, and print every multipart
frame that comes back for it: routing, <IDS|MSG>, HMAC, header, parent_header,
metadata, content.
"""

import json
import subprocess
import textwrap

import zmq
from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session

CODE = "x = 6 * 7; print('the answer is', x); x"
PARTS = ["delimiter", "HMAC signature", "header", "parent_header", "metadata", "content"]


def show(socket_name, frames):
    delim = frames.index(b"<IDS|MSG>")
    msg_type = json.loads(frames[delim + 2])["msg_type"]
    print(f"┌─ {socket_name} {msg_type} ── {len(frames)} frames (delimiter at position {delim})")
    for i, frame in enumerate(frames):
        part = PARTS[i - delim] if delim <= i < delim + len(PARTS) else "routing"
        text = frame.decode("utf-8", "replace")
        print(f"  [{i}] {len(frame):4d}B  {text[:47]:<48} ← {part}")  # ≤ 80 columns


km, kc = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
ctx = zmq.Context()
try:
    info = km.get_connection_info(session=False)
    session = Session(key=info["key"], signature_scheme=info["signature_scheme"])
    shell, iopub = ctx.socket(zmq.DEALER), ctx.socket(zmq.SUB)
    iopub.setsockopt(zmq.SUBSCRIBE, b"")
    shell.connect(f"{info['transport']}://{info['ip']}:{info['shell_port']}")
    iopub.connect(f"{info['transport']}://{info['ip']}:{info['iopub_port']}")
    while not iopub.poll(250):  # a SUB socket joins late: ping until iopub speaks
        session.send(shell, "kernel_info_request", {})

    request = session.send(shell, "execute_request", {
        "code": CODE, "silent": False, "store_history": True,
        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
    print(f"sent execute_request {CODE!r}\n  msg_id {request['header']['msg_id']}\n")
    poller = zmq.Poller()
    poller.register(shell, zmq.POLLIN)
    poller.register(iopub, zmq.POLLIN)
    replied = idle = False
    shown = []  # (socket, msg_type, routing frames) of each message shown
    while not (replied and idle):  # until the shell reply and iopub's status: idle
        ready = dict(poller.poll(10_000))
        if not ready:
            raise TimeoutError("the kernel said nothing for 10 s")
        for sock, name in ((shell, "SHELL"), (iopub, "IOPUB")):
            if sock not in ready:
                continue
            frames = sock.recv_multipart()
            d = frames.index(b"<IDS|MSG>")
            if json.loads(frames[d + 3]).get("msg_id") != request["header"]["msg_id"]:
                continue  # answers to the kernel_info pings
            show(name, frames)
            shown.append((name, json.loads(frames[d + 2])["msg_type"], d))
            replied |= name == "SHELL"
            idle |= json.loads(frames[d + 5]).get("execution_state") == "idle"
    iopub_types = [t for name, t, _ in shown if name == "IOPUB"]
    shell_routing = [d for name, _, d in shown if name == "SHELL"]
    print()
    print(textwrap.fill(
        f"Look at: one execute_request, {len(shown)} messages back, each the same shape "
        f"after its routing frames: <IDS|MSG>, the HMAC signature over the four JSON frames after "
        f"it, then header, parent_header (our msg_id: the reply is matched to the "
        f"request by it), metadata, content. IOPUB broadcast {', '.join(iopub_types)}; "
        f"each starts with a topic frame a SUB socket can filter on. The SHELL reply "
        + ("has no routing frame: the kernel's ROUTER used our identity frame to pick our "
           "DEALER and removed it." if shell_routing == [0] else
           f"arrived with {shell_routing} routing frames."), width=78, subsequent_indent="  ", break_on_hyphens=False))
finally:
    ctx.destroy(linger=0)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
