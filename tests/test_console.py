"""The documented routes. First the terminal one, `uv run jupyter console --kernel kij-native`:
it works from a fresh environment (jupyter_console is a dependency) and leaves nothing behind.

jupyter console is the canonical terminal frontend: a real client that starts the
kernel, sends each line as an execute_request and prints the execute_result as
`Out[n]:`. Fed on stdin (`--simple-prompt`, no terminal), the input is not echoed, so
a prompt and its answer share one line: `In [1]: Out[1]: 42`.

Then what the README and docs/ tell a newcomer to type: `uv run kij …` throughout,
links that resolve, and an HTML export that writes outside the repository.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

JUPYTER = Path(sys.executable).parent / "jupyter"


def console(kij, kernel: str, cells: str) -> subprocess.CompletedProcess:
    """`jupyter console --simple-prompt --kernel KERNEL`, cells on stdin, then EOF (which ends it).
    If it hangs, console is killed before the test fails; the kernel it started (in a
    session of its own) then ends by itself, as both kernels do when their parent dies."""
    proc = subprocess.Popen([str(JUPYTER), "console", "--simple-prompt", "--kernel", kernel], env=kij.env,
                            text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(cells, timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"jupyter console --kernel {kernel} did not end within 90 s; it printed: {out[-500:]!r}")
    kij.assert_clean()  # the kernel it started is gone and so is its connection file
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


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


# --- the documented routes: what the README and docs/ tell a newcomer to type ---------

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_lines(page: Path) -> list[str]:
    lines, inside = [], False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line)
    return lines


def commands(page: Path) -> list[str]:
    """The command lines of a page's code blocks: in a block with `$ ` prompts, the prompted
    lines (the rest is output); in a block without, every line."""
    blocks, block, inside = [], [], False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append(block)
            block, inside = [], not inside
        elif inside:
            block.append(line)
    found = []
    for block in blocks:
        prompted = [line[2:] for line in block if line.startswith("$ ")]
        found += prompted if prompted else block
    return found


def test_commands_are_written_as_they_run_from_a_fresh_clone():
    """`kij …` only works in an activated environment; the pages write `uv run kij …`."""
    bare = [(page.name, line) for page in PAGES for line in commands(page) if line.startswith("kij ")]
    assert bare == []


def test_every_link_between_the_pages_resolves():
    missing = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text()):
            resolved = (page.parent / target).resolve()
            if not resolved.exists():
                missing.append((page.name, target))
    assert missing == []


def test_the_documented_html_export_writes_outside_the_repository(tmp_path):
    """docs/notebook.md's export, run as written (uv run → this environment): the page lands
    in a temporary directory and the repository is unchanged."""
    lines = [line.split("#")[0].strip() for line in code_lines(ROOT / "docs" / "notebook.md")]
    export = [line for line in lines if line.startswith("out=") or "nbconvert" in line]
    assert export and "--output-dir" in export[-1]
    before = sorted(p.name for p in (ROOT / "notebooks").iterdir())
    script = "\n".join(export).replace("uv run jupyter", str(JUPYTER)) + '\necho "$out"'
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    out = Path(done.stdout.strip().splitlines()[-1])
    assert out.is_relative_to(tmp_path) and (out / "kij-companion.html").stat().st_size > 0
    assert sorted(p.name for p in (ROOT / "notebooks").iterdir()) == before
