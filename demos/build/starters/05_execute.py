"""Step 05 (starter) — execute_request: run code in a namespace that lives between requests, and publish what happens.

Around every request the kernel publishes `status: busy` … `status: idle` on iopub.
For an execute_request, in between:

    execute_input    the code, with its execution_count (In [n])
    stream           what the code printed (name "stdout")
    execute_result   the value of a trailing expression (Out[n]), as a mime bundle

and the reply on shell carries status "ok" and the execution_count. This step's
namespace is the REPL of step 01, now behind a socket.

STARTER. The parts to write are marked TODO; each raises NotImplementedError
until you write it, so the check fails there and the script's stderr says which.

    cp demos/build/starters/05_execute.py mine.py
    uv run kij check 5 --file mine.py

Stuck? The solution is demos/build/05_execute.py.
"""

import argparse
import ast
import contextlib
import datetime
import hmac
import io
import json
import uuid

import zmq

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("-f", dest="connection_file", metavar="CONNECTION_FILE",
                    help="the JSON file (ip, ports, key) that the client starting this kernel wrote")
connection_file = parser.parse_args().connection_file
if connection_file is None:
    parser.error("this script is a kernel: a client starts it with -f CONNECTION_FILE.\n"
                 "  `uv run kij check 5 --file <this file>` writes one, starts it and checks it.")
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
    header = {"msg_id": uuid.uuid4().hex, "session": session, "username": "kernel", "msg_type": msg_type,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "version": "5.3"}
    parts = [json.dumps(d).encode() for d in (header, parent["header"], {}, content)]
    socket.send_multipart([*identities, b"<IDS|MSG>", sign(parts), *parts])


def publish(msg_type: str, content: dict, parent: dict) -> None:
    send(iopub, msg_type, content, parent, [msg_type.encode()])


def kernel_info(content: dict, parent: dict) -> dict:
    return {"status": "ok", "protocol_version": "5.3", "implementation": "build-step-05",
            "implementation_version": "0.5", "banner": "step 05",
            "language_info": {"name": "python", "mimetype": "text/x-python", "file_extension": ".py"}}


namespace = {"__name__": "__main__"}
execution_count = 0


def run_cell(code: str):
    tree = ast.parse(code, "<cell>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, "<cell>", "exec"), namespace)
    if last is not None:
        return eval(compile(last, "<cell>", "eval"), namespace)
    return None


def execute(content: dict, parent: dict) -> dict:
    # TODO: count the execution (execution_count += 1; it is a global)
    # TODO: publish execute_input with the code and execution_count
    # TODO: run the code with run_cell() while contextlib.redirect_stdout captures what it prints
    # TODO: publish what was printed as a stream message (name 'stdout')
    # TODO: publish a trailing expression's value as execute_result: data {'text/plain': repr(value)}
    # TODO: return the reply content: status 'ok', execution_count, payload [], user_expressions {}
    raise NotImplementedError("execute(): write it (the TODO lines above say what)")


handlers = {
    "kernel_info_request": kernel_info,
    "execute_request": execute,
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
