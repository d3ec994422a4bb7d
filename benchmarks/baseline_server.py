"""The plain-script baseline for bench_server.py: the server work `kij server` does,
with the standard library and websocket-client only — no kij, no trace, no view.

Start jupyter_server (loopback, free port, token, private directories), a session on
kij-tap, a cell over a v1 websocket, a kernel_info_request over a legacy websocket,
save and load a notebook, a new websocket reading `secret`, a REST restart, `secret`
again, shut down.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timezone

import websocket

V1 = "v1.kernel.websocket.jupyter.org"


def rest(base, token, method, path, body=None):
    req = urllib.request.Request(f"{base}/{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
    return json.loads(text) if text.strip() else None


def v1(channel, parts):
    chunks = [channel.encode(), *parts]
    offsets = [8 * (len(chunks) + 2)]
    for c in chunks:
        offsets.append(offsets[-1] + len(c))
    return len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets) + b"".join(chunks)


def parts_of(data):
    n = int.from_bytes(data[:8], "little")
    offs = [int.from_bytes(data[8 * (i + 1):8 * (i + 2)], "little") for i in range(n)]
    return [data[a:b] for a, b in zip(offs, offs[1:])]


def run_cell(base, token, kid, code, legacy=False, msg_type="execute_request"):
    ws = websocket.create_connection(f"{base.replace('http', 'ws')}/api/kernels/{kid}/channels?session_id={uuid.uuid4().hex}",
                                     subprotocols=None if legacy else [V1], header=[f"Authorization: token {token}"],
                                     timeout=60)
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "session": uuid.uuid4().hex, "username": "b", "msg_type": msg_type, "version": "5.3",
              "date": datetime.now(timezone.utc).isoformat()}
    content = {} if msg_type != "execute_request" else {"code": code, "silent": False, "store_history": True,
                                                       "user_expressions": {}, "allow_stdin": False}
    if legacy:
        ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}))
    else:
        ws.send_binary(v1("shell", [json.dumps(x).encode() for x in (header, {}, {}, content)]))
    reply = idle = None
    while reply is None or idle is None:
        op, data = ws.recv_data()
        if op == websocket.ABNF.OPCODE_BINARY:
            p = parts_of(data)
            msg = {"header": json.loads(p[1]), "parent_header": json.loads(p[2]), "content": json.loads(p[4])}
        else:
            msg = json.loads(data)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["header"]["msg_type"].endswith("_reply"):
            reply = msg
        if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            idle = msg
    ws.close()
    return reply


def main():
    home = tempfile.mkdtemp(prefix="baseline-server-")
    for d in ("runtime", "data", "config", "root"):
        os.mkdir(os.path.join(home, d))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token, base = secrets.token_hex(24), f"http://127.0.0.1:{port}"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": f"{home}/runtime", "JUPYTER_DATA_DIR": f"{home}/data",
           "JUPYTER_CONFIG_DIR": f"{home}/config"}
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1",
                             f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={home}/root", *(["--allow-root"] if os.geteuid() == 0 else [])],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            try:
                rest(base, token, "GET", "api/status")
                break
            except OSError:
                time.sleep(0.05)
        kid = rest(base, token, "POST", "api/sessions", {"path": "b.ipynb", "name": "b.ipynb", "type": "notebook",
                                                         "kernel": {"name": "kij-tap"}})["kernel"]["id"]
        run_cell(base, token, kid, "secret = 6 * 7")
        run_cell(base, token, kid, "", legacy=True, msg_type="kernel_info_request")
        nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
            {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# hi"},
            {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": None, "outputs": [],
             "source": "secret = 6 * 7"}]}
        rest(base, token, "PUT", "api/contents/b.ipynb", {"type": "notebook", "format": "json", "content": nb})
        rest(base, token, "GET", "api/contents/b.ipynb?type=file&format=text&content=1")
        rest(base, token, "GET", "api/contents/b.ipynb?content=1")
        run_cell(base, token, kid, "secret")
        rest(base, token, "POST", f"api/kernels/{kid}/restart", {})
        run_cell(base, token, kid, "secret")
    finally:
        try:
            rest(base, token, "POST", "api/shutdown")
        except OSError:
            pass
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
