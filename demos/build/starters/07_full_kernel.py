"""Step 07 (starter) — the full kernel, grown from step 06.

What a full kernel adds to step 06 (src/kij/scratch/native.py is one answer, in one file):

* interrupts — SIGINT while a cell runs ends the cell in KeyboardInterrupt, not the
  kernel (jupyter_client's "signal" interrupt_mode): run cells on the main thread
  and catch KeyboardInterrupt in execute();
* input() over the stdin socket: input_request out, input_reply back (replace
  builtins.input while a cell runs; allow_stdin says whether the frontend can answer);
* history_request: the cells that ran;
* shutdown_request on control: reply, then end the process.

The code below is step 06's solution with history() and shutdown() to write; the
interrupt and input() parts are yours to add to execute().

STARTER. The parts to write are marked TODO; each raises NotImplementedError
until you write it, so the check fails there and the script's stderr says which.

    cp demos/build/starters/07_full_kernel.py mine.py
    uv run kij check 7 --file mine.py

Stuck? The solution is demos/build/07_full_kernel.py.
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
                 "  `uv run kij check 7 --file <this file>` writes one, starts it and checks it.")
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
    return {"status": "ok", "protocol_version": "5.3", "implementation": "build-step-07",
            "implementation_version": "0.7", "banner": "step 07",
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
    try:
        with contextlib.redirect_stdout(out):
            value = run_cell(content["code"])
    except Exception as error:
        if out.getvalue():
            publish("stream", {"name": "stdout", "text": out.getvalue()}, parent)
        failure = {"ename": type(error).__name__, "evalue": str(error),
                   "traceback": traceback.format_exception(error)}
        publish("error", failure, parent)
        return {"status": "error", "execution_count": execution_count, **failure}
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
    code, cursor = content["code"], content["cursor_pos"]
    prefix = re.search(r"\w*$", code[:cursor]).group()
    names = [*namespace, *dir(builtins), *keyword.kwlist]
    matches = sorted({n for n in names if n.startswith(prefix) and not n.startswith("_")})
    return {"status": "ok", "matches": matches, "cursor_start": cursor - len(prefix),
            "cursor_end": cursor, "metadata": {}}


def inspect_request(content: dict, parent: dict) -> dict:
    name = re.search(r"[\w.]*$", content["code"][: content["cursor_pos"]]).group()
    obj = lookup(name) if name else None
    if obj is None:
        return {"status": "ok", "found": False, "data": {}, "metadata": {}}
    text = f"{name}: {type(obj).__name__}\n{inspect.getdoc(obj) or ''}"
    return {"status": "ok", "found": True, "data": {"text/plain": text}, "metadata": {}}


def is_complete(content: dict, parent: dict) -> dict:
    try:
        compiled = codeop.compile_command(content["code"], "<cell>", "exec")
    except (SyntaxError, ValueError, OverflowError):
        return {"status": "invalid"}
    if compiled is None:
        return {"status": "incomplete", "indent": "    "}
    return {"status": "complete"}


def history(content: dict, parent: dict) -> dict:
    # TODO: keep every cell that execute() ran (session 0, its execution_count, the code)
    # TODO: return status 'ok' and history: the last content['n'] of them as (session, line, source) triples
    raise NotImplementedError("history(): write it (the TODO lines above say what)")


def shutdown(content: dict, parent: dict) -> dict:
    # TODO: reply status 'ok' with restart as asked, then end the process once the reply is sent
    raise NotImplementedError("shutdown(): write it (the TODO lines above say what)")


handlers = {
    "history_request": history,
    "shutdown_request": shutdown,
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
