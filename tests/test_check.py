"""The build track and its checker: every shipped step passes its own check, and a step is not passed by its predecessor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import kij.lessons.check as check
from kij.errors import UserError
from kij.lessons.check import STEPS, UnknownStep, find_step, kernel_checks, run

BUILD = Path(__file__).resolve().parents[1] / "demos" / "build"
STARTERS = BUILD / "starters"

# the first check each starter must fail: the first one its step adds
FIRST_NEW_CHECK = {
    1: "a trailing expression's value is printed",
    2: "heartbeat echoes a ping",
    **{n: next(name for name, _ in kernel_checks(n) if name not in dict(kernel_checks(n - 1)))
       for n in range(3, 8)},
}
# what the starter's own stderr shows as it fails (its TODO, or the gap the step fills)
STARTER_STDERR = {
    1: "NotImplementedError: run_cell()",
    2: "NotImplementedError: bind()",
    3: "NotImplementedError: check()",
    4: "NotImplementedError: send()",
    5: "NotImplementedError: execute()",
    6: "ZeroDivisionError",  # step 05's execute(): an exception still ends the kernel
    7: None,  # step 06's kernel: a cell's print() arrives only when the cell ends, so no interrupt
}


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.slug)
def test_each_shipped_step_passes_its_check(step):
    result = run(str(step.number), BUILD / f"{step.slug}.py")
    assert result.passed, [(c.name, c.detail) for c in result.checks if not c.passed]


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.slug)
def test_each_starter_fails_its_check_at_the_step_s_own_work(step, monkeypatch):
    monkeypatch.setattr(check, "TIMEOUT", 3.0)  # the failures are missing answers; don't wait long
    result = run(str(step.number), STARTERS / f"{step.slug}.py")
    assert not result.passed
    failed = [c for c in result.checks if not c.passed]
    assert failed[0].name == FIRST_NEW_CHECK[step.number], [(c.name, c.detail) for c in failed]
    passed_before = [c.name for c in result.checks[: result.checks.index(failed[0])]]
    assert all(c.passed for c in result.checks if c.name in passed_before)
    if STARTER_STDERR[step.number]:
        assert any(STARTER_STDERR[step.number] in line for line in result.kernel_log), result.kernel_log


@pytest.mark.parametrize("number", [5, 6, 7])
def test_a_starter_keeps_the_previous_step_working(number):
    """Starters 05–07 are the previous solution plus stubs: they pass the previous step's check."""
    result = run(str(number - 1), STARTERS / f"{STEPS[number - 1].slug}.py")
    assert result.passed, [(c.name, c.detail) for c in result.checks if not c.passed]


def test_every_step_has_a_starter_and_a_solution():
    assert sorted(p.stem for p in STARTERS.glob("*.py")) == [s.slug for s in STEPS]
    for step in STEPS:
        source = (STARTERS / f"{step.slug}.py").read_text()
        assert "TODO" in source and f"kij check {step.number} --file" in source
        assert f"demos/build/{step.slug}.py" in source  # where the solution is


@pytest.mark.parametrize("step", STEPS[1:], ids=lambda s: s.slug)
def test_a_kernel_step_run_by_hand_says_how_it_is_run(step):
    """Started without -f, a kernel script says it is a kernel and how to check it (exit 2, no traceback)."""
    for folder in (BUILD, STARTERS):
        done = subprocess.run([sys.executable, str(folder / f"{step.slug}.py")], capture_output=True,
                              text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert done.returncode == 2
        assert "a client starts it with -f CONNECTION_FILE" in done.stderr
        assert f"kij check {step.number}" in done.stderr
        assert "Traceback" not in done.stderr and "arguments are required" not in done.stderr
    helped = subprocess.run([sys.executable, str(BUILD / f"{step.slug}.py"), "--help"], capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert helped.returncode == 0 and f"Step {step.number:02d}" in helped.stdout  # --help is the step's explanation


def test_a_step_is_not_passed_by_the_previous_script(monkeypatch):
    monkeypatch.setattr(check, "TIMEOUT", 2.0)  # the failure is a missing answer; don't wait long for it
    result = run("5", BUILD / "04_kernel_info.py")
    assert not result.passed
    failed = [c for c in result.checks if not c.passed]
    assert [c.name for c in failed] == ["execute_request runs code, namespace persists"]
    assert result.step.needs == find_step("5").needs


def test_a_missing_script_is_a_user_error(tmp_path):
    with pytest.raises(UserError):
        run("2", tmp_path / "nope.py")


def test_forged_message_acceptance_fails_step_3(tmp_path):
    lax = tmp_path / "lax.py"  # a step-03 script that forgot to check signatures
    lax.write_text((BUILD / "03_sign_and_verify.py").read_text().replace(
        "if not hmac.compare_digest(signature, sign(parts)):", "if False:"))
    result = run("3", lax)
    assert not result.passed
    assert "wrong key" in result.checks[-1].detail


@pytest.mark.parametrize("name", ["3", "03", "03_sign_and_verify", "03_sign_and_verify.py"])
def test_step_names(name):
    assert find_step(name).number == 3


@pytest.mark.parametrize("name", ["0", "8", "nope", ""])
def test_unknown_steps(name):
    with pytest.raises(UnknownStep):
        find_step(name)


def test_cli_exit_codes(kij, tmp_path):
    """0 when the step passes, 1 when it does not, 2 for a step that does not exist; no traceback."""
    passed = kij.run("check", "4", "--file", str(BUILD / "04_kernel_info.py"))
    assert passed.returncode == 0, passed.stderr
    assert "passes" in passed.stdout and "kij check 5" in passed.stdout
    silent = tmp_path / "silent.py"
    silent.write_text("")  # a read-eval loop that reads nothing and prints nothing
    failed = kij.run("check", "1", "--file", str(silent), "--json")
    assert failed.returncode == 1
    assert '"passed": false' in failed.stdout
    unknown = kij.run("check", "99")
    assert unknown.returncode == 2
    assert "unknown step" in unknown.stderr and "Traceback" not in unknown.stderr


def test_check_without_a_step_lists_the_track(kij):
    """`kij check` alone is a request for the list, not a mistake: exit 0, every step, how to start."""
    listed = kij.run("check", env={"COLUMNS": "80"})
    assert listed.returncode == 0, listed.stderr
    for step in STEPS:
        assert f"{step.number:02d}  {step.title}" in listed.stdout
    assert "kij check 2 --file mine.py" in listed.stdout
    assert "starters/02_sockets_and_heartbeat.py" in listed.stdout
    assert all(len(line) <= 80 and line == line.rstrip() for line in listed.stdout.splitlines())
    as_json = kij.run("check", "--json")
    assert as_json.returncode == 0
    assert [s["slug"] for s in __import__("json").loads(as_json.stdout)["steps"]] == [s.slug for s in STEPS]
    refused = kij.run("check", "--file", "mine.py")
    assert refused.returncode == 2 and "needs a step" in refused.stderr


def test_a_failing_starter_points_at_the_solution(kij):
    failed = kij.run("check", "2", "--file", str(STARTERS / "02_sockets_and_heartbeat.py"))
    assert failed.returncode == 1
    assert "stuck? the solution is" in failed.stdout and "02_sockets_and_heartbeat.py" in failed.stdout
    assert "NotImplementedError: bind()" in failed.stdout  # the starter's own stderr, as evidence


def test_spinner_on_a_terminal_only(kij):
    """While a step runs, a terminal's stderr shows which check is under way; piped, nothing."""
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "kij", "check", "5"], env={**kij.env, "TERM": "xterm"},
                          encoding="utf-8", timeout=60, dimensions=(24, 100))
    child.expect("checking step 05")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    kij.assert_clean()
    piped = kij.run("check", "5")
    assert piped.returncode == 0
    assert piped.stderr == ""  # no spinner frames in a pipe
    assert "checking" not in piped.stdout


def test_the_first_check_waits_for_a_slow_start(tmp_path, monkeypatch):
    """A script slow to start (Python and its imports on a loaded machine) is not a
    script that does not answer: the heartbeat check, the first, also waits for its
    start-up (STARTUP_TIMEOUT), however short the wait for each answer after it."""
    monkeypatch.setattr(check, "TIMEOUT", 0.5)
    slow = tmp_path / "slow.py"
    slow.write_text("import time\ntime.sleep(2)  # a slow start: the learner's imports\n"
                    + (BUILD / f"{STEPS[1].slug}.py").read_text())
    result = run("2", slow)
    assert result.passed, [(c.name, c.detail) for c in result.checks if not c.passed]
