"""Step 04 (starter) — the first real conversation: kernel_info_request → kernel_info_reply.

A frontend's first question is "who are you?". The reply says which protocol
version the kernel speaks, its implementation, and its language_info (name,
mimetype, file extension) — enough for a notebook to pick syntax highlighting.

Two habits start here and never stop:
* a reply goes back on the socket the request came in on, to the same identities,
  with the request's header as its parent_header;
* around every request, iopub says `status: busy` and then `status: idle`.

STARTER. The parts to write are marked TODO; each raises NotImplementedError
until you write it, so the check fails there and the script's stderr says which.

    cp demos/build/starters/04_kernel_info.py mine.py
    uv run kij check 4 --file mine.py

Stuck? The solution is demos/build/04_kernel_info.py.
"""

import argparse
import datetime
import hmac
import json
import uuid

import zmq

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("-f", dest="connection_file", metavar="CONNECTION_FILE",
                    help="the JSON file (ip, ports, key) that the client starting this kernel wrote")
connection_file = parser.parse_args().connection_file
if connection_file is None:
    parser.error("this script is a kernel: a client starts it with -f CONNECTION_FILE.\n"
                 "  `uv run kij check 4 --file <this file>` writes one, starts it and checks it.")
connection = json.load(open(connection_file))
key = connection["key"].encode()
session = uuid.uuid4().hex

context = zmq.Context()


def bind(channel: str, kind: int) -> zmq.Socket:
    socket = context.socket(kind)
    socket.bind(f"{connection['transport']}://{connection['ip']}:{connection[channel + '_port']}")
    return socket


shell = bind("shell", zmq.ROUTER)
control = bind("control", zmq.ROUTER)
stdin = bind("stdin", zmq.ROUTER)
iopub = bind("iopub", zmq.PUB)
hb = bind("hb", zmq.REP)

seen_signatures = set()


def sign(parts: list) -> bytes:
    return hmac.new(key, b"".join(parts), "sha256").hexdigest().encode()


def receive(socket: zmq.Socket):
    """A verified message as a dict, or None."""
    frames = socket.recv_multipart()
    if b"<IDS|MSG>" not in frames:
        return None
    i = frames.index(b"<IDS|MSG>")
    signature, parts = frames[i + 1], frames[i + 2 : i + 6]
    if len(parts) < 4 or not hmac.compare_digest(signature, sign(parts)) or signature in seen_signatures:
        return None
    seen_signatures.add(signature)
    try:
        header, parent_header, metadata, content = [json.loads(p) for p in parts]
    except ValueError:
        return None
    return {"identities": frames[:i], "header": header, "content": content}


def send(socket: zmq.Socket, msg_type: str, content: dict, parent: dict, identities: list) -> None:
    # TODO: build a header: msg_id, session, username, msg_type, date (ISO 8601, UTC), version '5.3'
    # TODO: the four JSON frames are header, the request's header (as parent_header), {} (metadata), content
    # TODO: send [*identities, b'<IDS|MSG>', signature, *frames] on socket
    raise NotImplementedError("send(): write it (the TODO lines above say what)")


def publish(msg_type: str, content: dict, parent: dict) -> None:
    send(iopub, msg_type, content, parent, [msg_type.encode()])


def kernel_info(content: dict, parent: dict) -> dict:
    # TODO: return status 'ok', protocol_version, implementation, implementation_version, banner
    # TODO: and language_info: name, mimetype, file_extension
    raise NotImplementedError("kernel_info(): write it (the TODO lines above say what)")


handlers = {
    "kernel_info_request": kernel_info,
}


def handle(socket: zmq.Socket) -> None:
    msg = receive(socket)
    if msg is None or msg["header"].get("msg_type") not in handlers:
        return
    msg_type = msg["header"]["msg_type"]
    publish("status", {"execution_state": "busy"}, msg)
    reply = handlers[msg_type](msg["content"], msg)
    send(socket, msg_type.replace("_request", "_reply"), reply, msg, msg["identities"])
    publish("status", {"execution_state": "idle"}, msg)


poller = zmq.Poller()
for socket in (shell, control, hb):
    poller.register(socket, zmq.POLLIN)
while True:
    ready = dict(poller.poll())
    if hb in ready:
        hb.send(hb.recv())
    for socket in (control, shell):
        if socket in ready:
            handle(socket)
