"""Step 03 — read messages off shell, and believe only the ones signed with the key.

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

Check it: uv run kij check 3          (what it checks: uv run kij check)
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
                 "  `uv run kij check 3` writes one, starts this script and checks it.")
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
    if b"<IDS|MSG>" not in frames:
        return "rejected: no <IDS|MSG> delimiter"
    rest = frames[frames.index(b"<IDS|MSG>") + 1 :]
    if len(rest) < 5:
        return "rejected: too few frames"
    signature, parts = rest[0], rest[1:5]
    if not hmac.compare_digest(signature, sign(parts)):
        return "rejected: bad signature"
    if signature in seen_signatures:
        return "rejected: replayed signature"
    seen_signatures.add(signature)
    try:
        header = json.loads(parts[0])
        return f"accepted {header['msg_type']}"
    except (ValueError, KeyError, TypeError):
        return "rejected: header is not a JSON object with a msg_type"


poller = zmq.Poller()
poller.register(shell, zmq.POLLIN)
poller.register(hb, zmq.POLLIN)
while True:
    ready = dict(poller.poll())
    if hb in ready:
        hb.send(hb.recv())
    if shell in ready:
        print(check(shell.recv_multipart()), flush=True)
