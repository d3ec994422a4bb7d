"""`kij state` against a plain jupyter_client script doing the same kernel work.
Target: <= 1.15x."""

import sys

from timing import HERE, KIJ, side_by_side

side_by_side("kij state", KIJ + ["state", "--json"], [sys.executable, str(HERE / "baseline_state.py")],
             target=1.15)
