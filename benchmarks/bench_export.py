"""What kij export costs: `kij export NOTEBOOK -o FILE.html` against a plain
`jupyter nbconvert --execute --to html NOTEBOOK` on the same notebook, side by side.

Not a test: it prints figures. kij does the same nbconvert work (the same
ExecutePreprocessor, HTMLExporter and FilesWriter) plus the tap in front of the
kernel (one more process, every message recorded), reading the trace back, diffing
the notebook and drawing the page. One round by default (the brief: one run).

    uv run python benchmarks/bench_export.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from timing import HERE, KIJ, side_by_side

DEMO = HERE.parent / "demos" / "export" / "tiny.ipynb"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kij-bench-export-") as tmp:
        nb = Path(tmp) / "tiny.ipynb"
        shutil.copy(DEMO, nb)
        ours = [*KIJ, "export", str(nb), "-o", str(Path(tmp) / "kij" / "tiny.html")]
        (Path(tmp) / "kij").mkdir()
        baseline = [sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "html",
                    "--output-dir", str(Path(tmp) / "nbconvert"), str(nb)]
        side_by_side("kij export vs jupyter nbconvert --execute --to html", ours, baseline,
                     rounds=args.rounds, label="nbconvert")


if __name__ == "__main__":
    main()
