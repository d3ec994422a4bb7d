"""The workshop track: every demos/NN_*.py runs to exit 0 and leaves no kernel behind,
and (02–06) ends by saying what to look at, in lines that fit 80 columns.
(demos/build/ is another track with its own tests.)"""

from pathlib import Path

import pytest
from conftest import lost_a_port_race

DEMOS = sorted((Path(__file__).parent.parent / "demos").glob("[0-9][0-9]_*.py"))

# what each demo must have shown, so a demo that silently did nothing fails
SHOWS = {
    "01_repl_diff.py": ["NameError: name '_' is not defined", "Out[2]: 40", "execute_result [2]: 40", "ValueError"],
    "02_state.py": ["→ 84", "→ 42", "NameError", "now gives NameError"],
    "03_frames.py": ["<IDS|MSG>", "HMAC signature", "execute_reply", "the answer is 42", "idle",
                     "execute_input, stream, execute_result, status", "has no routing frame"],
    "04_magics.py": ["In [1]: 'clap' in", "Out[1]: False", "kernels 👏 hold 👏 state", "STATE PERSISTS ACROSS CELLS",
                     "The kernel's Out values match the in-process ones"],
    "05_swap.py": ["kernel = 'python3'", "kernel = 'bash'", "1024", "2^10 = 1024", "answered in python and bash"],
    "06_which.py": ["(unchanged: True)", "(moved: True)", "Rule: check sys.executable first"],
}
# 01 is another lesson's demo (repl-diff); the rest each end with what to look at
GUIDED = [name for name in SHOWS if name != "01_repl_diff.py"]


def test_every_demo_is_checked():
    assert [d.name for d in DEMOS] == sorted(SHOWS)


@pytest.mark.parametrize("demo", DEMOS, ids=lambda p: p.name)
def test_demo_runs_and_cleans_up(kij, demo):
    source = demo.read_text()
    assert "import kij" not in source and "from kij" not in source
    run = kij.script(demo)  # asserts no process with the marker and no connection file survive
    if run.returncode != 0 and lost_a_port_race(run.stderr):  # jupyter_client's, not the demo's
        run = kij.script(demo)
    assert run.returncode == 0, run.stderr
    flowing = " ".join(run.stdout.split())  # the guidance is wrapped to 80 columns
    for fact in SHOWS[demo.name]:
        assert fact in run.stdout or fact in flowing, fact

    if demo.name in GUIDED:
        assert "\nLook at: " in run.stdout
        too_wide = [line for line in run.stdout.splitlines() if len(line) > 80]
        assert too_wide == []  # nothing wraps mid-word in an 80-column terminal
