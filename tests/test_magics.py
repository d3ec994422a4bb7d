"""`kij magics` and the kij.magics extension itself."""

import json

from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from conftest import no_traceback


def test_extension_registers_both_magics():
    """kij.magics is a plain IPython extension: %load_ext finds it, then the magics run."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    try:
        assert shell.find_line_magic("clap") is None
        shell.run_line_magic("load_ext", "kij.magics")
        assert shell.run_line_magic("clap", "kernels hold state") == "kernels 👏 hold 👏 state"
        assert shell.find_cell_magic("shout") is not None
    finally:
        InteractiveShell.clear_instance()


def test_magics_json_in_process_equals_kernel(kij):
    run = kij.run("magics", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    local, remote = data["shells"]
    assert local["where"] == "in-process" and remote["where"] == "python3 kernel"
    for shell in (local, remote):
        cells = {c["label"]: c for c in shell["cells"]}
        # a registered function: not listed before %load_ext, listed after — in both
        assert cells["before"]["clap_listed"] is False and cells["before"]["shout_listed"] is False
        assert cells["after"]["clap_listed"] is True and cells["after"]["shout_listed"] is True
        assert len(cells["after"]["line_magics"]) == len(cells["before"]["line_magics"]) + 1
        assert cells["line magic"]["result"] == "'kernels 👏 hold 👏 state'"
        assert cells["cell magic"]["stdout"].strip() == "STATE PERSISTS ACROSS CELLS"
        assert cells["registered as"]["result"] == "'KijMagics.clap'"
    shells = [{c["label"]: c for c in s["cells"]} for s in (local, remote)]
    assert shells[0]["which shell"]["result"] == "'InteractiveShell'"
    assert shells[1]["which shell"]["result"] == "'ZMQInteractiveShell'"
    # the kernel's cells were counted by the kernel itself, one execute_request each
    assert [c["execution_count"] for c in remote["cells"]] == list(range(1, len(remote["cells"]) + 1))
    assert data["all_equal"] is True
    assert all(c["equal"] and c["in_process"] == c["kernel"] for c in data["comparisons"])
    assert "%connect_info" in data["kernel_only_magics"]


def test_magics_screen(kij):
    run = kij.run("magics")
    assert run.returncode == 0, run.stderr
    for fact in ["'kernels 👏 hold 👏 state'", "STATE PERSISTS ACROSS CELLS", "ZMQInteractiveShell", "✓"]:
        assert fact in run.stdout, fact
    assert no_traceback(run.stderr)
