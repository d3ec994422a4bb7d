"""Step 02 (starter) — read the connection file, bind the five sockets, answer heartbeats.

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

STARTER. The parts to write are marked TODO; each raises NotImplementedError
until you write it, so the check fails there and the script's stderr says which.

    cp demos/build/starters/02_sockets_and_heartbeat.py mine.py
    uv run kij check 2 --file mine.py

Stuck? The solution is demos/build/02_sockets_and_heartbeat.py.
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
                 "  `uv run kij check 2 --file <this file>` writes one, starts it and checks it.")
connection = json.load(open(connection_file))

context = zmq.Context()


def bind(channel: str, kind: int) -> zmq.Socket:
    # TODO: make a socket of `kind` on `context`
    # TODO: bind it to transport://ip:port, the port being connection[channel + '_port']
    # TODO: return it
    raise NotImplementedError("bind(): write it (the TODO lines above say what)")


shell = bind("shell", zmq.ROUTER)
control = bind("control", zmq.ROUTER)
stdin = bind("stdin", zmq.ROUTER)
iopub = bind("iopub", zmq.PUB)
hb = bind("hb", zmq.REP)

while True:
    # TODO: receive the bytes of a ping on hb and send the same bytes back
    raise NotImplementedError("the main loop: echo each ping on hb (the TODO line above)")
