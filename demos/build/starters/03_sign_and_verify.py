"""Step 03 (starter) — read messages off shell, and believe only the ones signed with the key.

On the wire a message is a list of frames:

    [identities...] b"<IDS|MSG>" signature header parent_header metadata content [buffers...]

The signature is HMAC-SHA256, keyed with the connection file's "key", over the four
JSON frames. Anyone who can reach the port can send bytes; only someone who read
the connection file can sign them. So: recompute the HMAC, compare it in constant
time (hmac.compare_digest), and remember every signature seen — a captured message
sent again (a replay) carries a valid signature too.

This step prints one line per shell message — the contract `kij check 3` reads:
    accepted <msg_type>
    rejected: <why>

STARTER. The parts to write are marked TODO; each raises NotImplementedError
until you write it, so the check fails there and the script's stderr says which.

    cp demos/build/starters/03_sign_and_verify.py mine.py
    uv run kij check 3 --file mine.py

Stuck? The solution is demos/build/03_sign_and_verify.py.
"""

import argparse
import hmac
import json

import zmq

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("-f", dest="connection_file", metavar="CONNECTION_FILE",
                    help="the JSON file (ip, ports, key) that the client starting this kernel wrote")
connection_file = parser.parse_args().connection_file
if connection_file is None:
    parser.error("this script is a kernel: a client starts it with -f CONNECTION_FILE.\n"
                 "  `uv run kij check 3 --file <this file>` writes one, starts it and checks it.")
connection = json.load(open(connection_file))
key = connection["key"].encode()

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


def check(frames: list) -> str:
    """'accepted <msg_type>' or 'rejected: <why>'."""
    # TODO: find the b'<IDS|MSG>' delimiter; the frames after it are signature, header, parent_header, metadata, content
    # TODO: recompute the signature with sign() over the four JSON frames; compare with hmac.compare_digest
    # TODO: refuse a signature already seen (a replay); remember the new one
    # TODO: return 'accepted <msg_type>' (msg_type from the JSON header) or 'rejected: <why>'
    raise NotImplementedError("check(): write it (the TODO lines above say what)")


poller = zmq.Poller()
poller.register(shell, zmq.POLLIN)
poller.register(hb, zmq.POLLIN)
while True:
    ready = dict(poller.poll())
    if hb in ready:
        hb.send(hb.recv())
    if shell in ready:
        print(check(shell.recv_multipart()), flush=True)
