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

Check it: kij check 2
"""

import argparse
import json

import zmq

parser = argparse.ArgumentParser()
parser.add_argument("-f", dest="connection_file", required=True)
connection = json.load(open(parser.parse_args().connection_file))

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
