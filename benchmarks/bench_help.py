"""`kij --help` wall time (target <= 0.15 s): the installed console script, and the
same through `uv run`, whose own start-up is uv's, not kij's."""

import shutil
import statistics
import sys
from pathlib import Path

from timing import wall

script = Path(sys.executable).with_name("kij")
for label, cmd in [("kij --help", [str(script), "--help"]),
                   ("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"]),
                   ("uv run kij --help", [shutil.which("uv") or "uv", "run", "kij", "--help"])]:
    wall(cmd)
    runs = [wall(cmd) for _ in range(15)]
    print(f"{label}: median {statistics.median(runs) * 1000:.0f} ms, max {max(runs) * 1000:.0f} ms")
