"""`kij swap` (python3 and bash booting side by side) against the sequential plain
jupyter_client baseline (boot python3, run, shut down; then bash). Target: <= 0.8x."""

import sys

from timing import HERE, KIJ, side_by_side

side_by_side("kij swap", KIJ + ["swap", "--json"], [sys.executable, str(HERE / "baseline_swap.py")],
             target=0.8, label="sequential")
