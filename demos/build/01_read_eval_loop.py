"""Step 01 — a read-eval-print loop on stdin: the whole of "a kernel" before any Jupyter.

A REPL reads code, runs it in a namespace that persists between inputs, and prints
the value of a trailing expression. Every later step keeps this core and only
changes where the code comes from (a socket, not stdin) and where the output goes
(messages, not stdout).

Try it:   uv run python demos/build/01_read_eval_loop.py        (Ctrl-D to quit)
Check it: uv run kij check 1
"""

import ast
import traceback

namespace = {"__name__": "__main__"}


def run_cell(code: str):
    """Run the statements; if the last one is an expression, return its value."""
    tree = ast.parse(code, "<stdin>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, "<stdin>", "exec"), namespace)
    if last is not None:
        return eval(compile(last, "<stdin>", "eval"), namespace)
    return None


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
