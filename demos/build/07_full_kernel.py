"""Step 07 — the full kernel: kij.scratch.native, which this step simply runs.

What the native kernel adds to step 06 (read src/kij/scratch/native.py, one file):

* threads — the main thread runs code (so SIGINT, delivered to the main thread,
  can raise KeyboardInterrupt in it); a control thread answers interrupt_request
  and shutdown_request even while code runs; a heartbeat thread keeps echoing;
* interrupts — by signal (jupyter_client's "signal" interrupt_mode) or by message;
* input() over the stdin socket: input_request out, input_reply back;
* history, comm_info, the pager (`name?`), display() and clear_output();
* shutdown_request (restart too), ending every thread by terminating the zmq context;
* robustness — malformed messages are logged and dropped, never fatal.

Check it: uv run kij check 7
Talk to it: uv run jupyter console --kernel kij-native   (the same kernel, installed as a kernelspec)
"""

import sys

from kij.scratch.native import main

if {"-h", "--help"} & set(sys.argv[1:]):
    print(__doc__)
    sys.exit(0)
if len(sys.argv) == 1:  # run by hand with no connection file: say how this kernel is started
    print("07_full_kernel.py: this script is a kernel: a client starts it with -f CONNECTION_FILE.\n"
          "  `uv run kij check 7` writes one, starts this script and checks it;\n"
          "  `uv run jupyter console --kernel kij-native` starts the same kernel and talks to it.",
          file=sys.stderr)
    sys.exit(2)
main()
