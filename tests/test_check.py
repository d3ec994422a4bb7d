"""The build track and its checker: every shipped step passes its own check, and a step is not passed by its predecessor."""

from __future__ import annotations

from pathlib import Path

import pytest

import kij.lessons.check as check
from kij.errors import UserError
from kij.lessons.check import STEPS, UnknownStep, find_step, run

BUILD = Path(__file__).resolve().parents[1] / "demos" / "build"


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.slug)
def test_each_shipped_step_passes_its_check(step):
    result = run(str(step.number), BUILD / f"{step.slug}.py")
    assert result.passed, [(c.name, c.detail) for c in result.checks if not c.passed]


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
