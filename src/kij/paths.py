"""Where kij keeps files while it runs: Jupyter's runtime directory.

That is where JupyterLab keeps its kernels' connection files (kernel-<id>.json), so
kij keeps its own there too (kernel-kij-<id>.json), finds `--existing 1234` there,
and kij tap writes its traces into its kij-tap/ folder. $JUPYTER_RUNTIME_DIR moves it.
"""

from pathlib import Path


def runtime_dir() -> Path:
    """Jupyter's runtime directory (it may not exist yet: whoever writes creates it)."""
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())
