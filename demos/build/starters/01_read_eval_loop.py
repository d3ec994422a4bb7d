"""Step 01 (starter) — a read-eval-print loop on stdin: the whole of "a kernel" before any Jupyter.

A REPL reads code, runs it in a namespace that persists between inputs, and prints
the value of a trailing expression. Every later step keeps this core and only
changes where the code comes from (a socket, not stdin) and where the output goes
(messages, not stdout).

Try it:   uv run python demos/build/01_read_eval_loop.py        (Ctrl-D to quit)

STARTER. The parts to write are marked TODO; each raises NotImplementedError
until you write it, so the check fails there and the script's stderr says which.

    cp demos/build/starters/01_read_eval_loop.py mine.py
    uv run kij check 1 --file mine.py

Stuck? The solution is demos/build/01_read_eval_loop.py.
"""

import ast
import traceback

namespace = {"__name__": "__main__"}


def run_cell(code: str):
    """Run the statements; if the last one is an expression, return its value."""
    # TODO: parse code with ast.parse(code, '<stdin>', 'exec')
    # TODO: if the last statement is an ast.Expr, pop it off and keep it as an ast.Expression
    # TODO: exec() the rest in `namespace`, then eval() the kept expression there and return its value
    # TODO: return None when there is no trailing expression
    raise NotImplementedError("run_cell(): write it (the TODO lines above say what)")


while True:
    try:
        code = input(">>> ")
    except EOFError:
        break
    try:
        value = run_cell(code)
        if value is not None:
            print(repr(value))
    except Exception:
        traceback.print_exc()
