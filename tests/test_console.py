"""The README's terminal route: `uv run jupyter console --kernel kij-native` works from a fresh
environment (jupyter_console is a dependency) and leaves nothing behind.

jupyter console is the canonical terminal frontend: a real client that starts the
kernel, sends each line as an execute_request and prints the execute_result as
`Out[n]:`. Fed on stdin (`--simple-prompt`, no terminal), the input is not echoed, so
a prompt and its answer share one line: `In [1]: Out[1]: 42`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

JUPYTER = Path(sys.executable).parent / "jupyter"


def console(kij, kernel: str, cells: str) -> subprocess.CompletedProcess:
    """`jupyter console --simple-prompt --kernel KERNEL`, cells on stdin, then EOF (which ends it)."""
    done = subprocess.run([str(JUPYTER), "console", "--simple-prompt", "--kernel", kernel],
                          input=cells, env=kij.env, text=True, capture_output=True, timeout=90)
    kij.assert_clean()  # the kernel it started is gone and so is its connection file
    return done


def test_jupyter_console_is_installed():
    done = subprocess.run([str(JUPYTER), "console", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()[0].isdigit()


@pytest.mark.parametrize("kernel", ["kij-native", "python3"])
def test_console_runs_cells_on_the_kernel(kij, kernel):
    done = console(kij, kernel, "x = 6 * 7\nx\nx + 1\n")
    assert done.returncode == 0, done.stderr
    assert "Out[2]: 42" in done.stdout  # the namespace persists between cells
    assert "Out[3]: 43" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
