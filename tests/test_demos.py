"""The workshop track: every demos/NN_*.py runs to exit 0 and leaves no kernel behind.
(demos/build/ is another track with its own tests.)"""

from pathlib import Path

import pytest

DEMOS = sorted((Path(__file__).parent.parent / "demos").glob("[0-9][0-9]_*.py"))

# what each demo must have shown, so a demo that silently did nothing fails
SHOWS = {
    "01_repl_diff.py": ["NameError: name '_' is not defined", "Out[2]: 40", "execute_result [2]: 40", "ValueError"],
    "02_state.py": ["→ 84", "→ 42", "NameError"],
    "03_frames.py": ["<IDS|MSG>", "HMAC signature", "execute_reply", "the answer is 42", "idle"],
    "04_magics.py": ["Out[1]: False", "kernels 👏 hold 👏 state", "STATE PERSISTS ACROSS CELLS"],
    "05_swap.py": ["kernel = 'python3'", "kernel = 'bash'", "1024", "2^10 = 1024"],
    "06_which.py": ["(unchanged: True)", "(moved: True)", "Rule: check sys.executable first"],
}


def test_every_demo_is_checked():
    assert [d.name for d in DEMOS] == sorted(SHOWS)


@pytest.mark.parametrize("demo", DEMOS, ids=lambda p: p.name)
def test_demo_runs_and_cleans_up(kij, demo):
    source = demo.read_text()
    assert "import kij" not in source and "from kij" not in source
    run = kij.script(demo)  # asserts no process with the marker and no connection file survive
    assert run.returncode == 0, run.stderr
    for fact in SHOWS[demo.name]:
        assert fact in run.stdout, fact
