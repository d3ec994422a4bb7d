"""Step 02 — read the connection file, bind the five sockets, answer heartbeats.

A Jupyter kernel is started as `python kernel.py -f kernel-1234.json`. That JSON
file names an IP address, a transport, five ports and a key. The kernel *binds*
(the frontend *connects*):

    shell    ROUTER   requests: execute, complete, inspect, kernel_info, ...
    control  ROUTER   the same kinds of request, on a line that is never busy
    stdin    ROUTER   the kernel asks the frontend for input()
    iopub    PUB      the kernel broadcasts outputs and busy/idle to everyone
    hb       REP      heartbeat: whatever bytes arrive go straight back

This step only answers the heartbeat. A frontend that gets its ping back knows the
process is alive — even if it is busy running code.

Check it: uv run kij check 2          (what it checks: uv run kij check)
"""

import argparse
import json

import zmq

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("-f", dest="connection_file", metavar="CONNECTION_FILE",
                    help="the JSON file (ip, ports, key) that the client starting this kernel wrote")
connection_file = parser.parse_args().connection_file
if connection_file is None:
    parser.error("this script is a kernel: a client starts it with -f CONNECTION_FILE.\n"
                 "  `uv run kij check 2` writes one, starts this script and checks it.")
connection = json.load(open(connection_file))

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

while True:
    hb.send(hb.recv())  # ping → the same bytes back
