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

Check it: kij check 7
"""

from kij.scratch.native import main

main()
