"""`kij state`: the facts of the lesson, through the CLI and through --json."""

import json

from conftest import no_traceback


def test_state_json_facts(kij):
    run = kij.run("state", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    cell1, cell2, peek, again = data["steps"]
    assert cell1["code"] == "secret = 6 * 7" and cell1["output"] is None and cell1["error"] is None
    assert cell2["output"] == "84"
    # a second, independent client: another session, the same process, the same state
    assert peek["client"] != cell1["client"] and peek["session"] != cell1["session"]
    assert peek["output"] == "42"
    assert cell1["kernel_pid"] == cell2["kernel_pid"] == peek["kernel_pid"]
    assert [cell1["execution_count"], cell2["execution_count"], peek["execution_count"]] == [1, 2, 3]
    # the restart: a new process, counts start over, the name is gone
    assert data["pid_after_restart"] != data["pid_before_restart"]
    assert again["kernel_pid"] == data["pid_after_restart"]
    assert again["execution_count"] == 1
    assert again["error"].startswith("NameError") and "secret" in again["error"]
    assert data["takeaway"]


def test_state_screen(kij):
    run = kij.run("state")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for fact in ["84", "42", "NameError", "restart", "client B", "→"]:
        assert fact in out
    assert "\x1b[" not in out  # piped: no escape codes
    # the kernel's own start-up chatter is captured, never spilled into ours
    assert "IPKernelApp" not in run.stderr and "IPKernelApp" not in out
    assert no_traceback(run.stderr)
