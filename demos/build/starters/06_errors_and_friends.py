"""Step 06 (starter) — errors, and the requests that make a frontend feel smart: complete, inspect, is_complete.

* An exception is not a crash: the kernel publishes an `error` message on iopub
  (ename, evalue, traceback lines) and replies `status: "error"` with the same fields.
* complete_request: the names that could finish the word at cursor_pos, and where
  the replaced text starts (cursor_start) and ends (cursor_end).
* inspect_request: help for the name under the cursor (Shift-Tab in a notebook).
* is_complete_request: should a console run this, or show a continuation prompt?
  Python's own codeop module knows.

The execute() below is step 05's: an exception in a cell still ends the kernel.

STARTER. The parts to write are marked TODO; each raises NotImplementedError
until you write it, so the check fails there and the script's stderr says which.

    cp demos/build/starters/06_errors_and_friends.py mine.py
    uv run kij check 6 --file mine.py

Stuck? The solution is demos/build/06_errors_and_friends.py.
"""

import argparse
import ast
import builtins
import codeop
import contextlib
import datetime
import hmac
import inspect
import io
import json
import keyword
import re
import traceback
import uuid

import zmq

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("-f", dest="connection_file", metavar="CONNECTION_FILE",
                    help="the JSON file (ip, ports, key) that the client starting this kernel wrote")
connection_file = parser.parse_args().connection_file
if connection_file is None:
    parser.error("this script is a kernel: a client starts it with -f CONNECTION_FILE.\n"
                 "  `uv run kij check 6 --file <this file>` writes one, starts it and checks it.")
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
    return {"status": "ok", "protocol_version": "5.3", "implementation": "build-step-06",
            "implementation_version": "0.6", "banner": "step 06",
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
    global execution_count
    execution_count += 1
    publish("execute_input", {"code": content["code"], "execution_count": execution_count}, parent)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        value = run_cell(content["code"])  # TODO: an exception here must become an iopub error + an error reply
    if out.getvalue():
        publish("stream", {"name": "stdout", "text": out.getvalue()}, parent)
    if value is not None:
        publish("execute_result", {"execution_count": execution_count,
                                   "data": {"text/plain": repr(value)}, "metadata": {}}, parent)
    return {"status": "ok", "execution_count": execution_count, "payload": [], "user_expressions": {}}


def lookup(name: str):
    obj = namespace.get(name.split(".")[0], getattr(builtins, name.split(".")[0], None))
    for attribute in name.split(".")[1:]:
        obj = getattr(obj, attribute, None)
    return obj


def complete(content: dict, parent: dict) -> dict:
    # TODO: take the word before cursor_pos in code
    # TODO: return status 'ok', the names (namespace, builtins, keywords) that start with it as matches,
    # TODO: cursor_start (where the word starts), cursor_end (cursor_pos) and metadata {}
    raise NotImplementedError("complete(): write it (the TODO lines above say what)")


def inspect_request(content: dict, parent: dict) -> dict:
    # TODO: take the (dotted) name before cursor_pos and find it with lookup()
    # TODO: return found False with empty data when there is none,
    # TODO: else found True with data {'text/plain': its type and inspect.getdoc()}
    raise NotImplementedError("inspect_request(): write it (the TODO lines above say what)")


def is_complete(content: dict, parent: dict) -> dict:
    # TODO: ask codeop.compile_command(code, '<cell>', 'exec'):
    # TODO: a SyntaxError means 'invalid', None means 'incomplete' (add an indent), else 'complete'
    raise NotImplementedError("is_complete(): write it (the TODO lines above say what)")


handlers = {
    "kernel_info_request": kernel_info,
    "execute_request": execute,
    "complete_request": complete,
    "inspect_request": inspect_request,
    "is_complete_request": is_complete,
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
