"""The build track and its checker: every shipped step passes its own check, and a step is not passed by its predecessor."""

from __future__ import annotations

from pathlib import Path

import pytest

import kij.lessons.check as check
from kij.lessons.check import STEPS, UnknownStep, find_step, run_check
from kij.views.check import to_dict

BUILD = Path(__file__).resolve().parents[1] / "demos" / "build"


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.slug)
def test_each_shipped_step_passes_its_check(step):
    result = run_check(str(step.number), BUILD / f"{step.slug}.py")
    assert result.passed, [(c.name, c.detail) for c in result.checks if not c.passed]


def test_a_step_is_not_passed_by_the_previous_script(monkeypatch):
    monkeypatch.setattr(check, "TIMEOUT", 2.0)  # the failure is a missing answer; don't wait long for it
    result = run_check("5", BUILD / "04_kernel_info.py")
    assert not result.passed
    failed = [c for c in result.checks if not c.passed]
    assert [c.name for c in failed] == ["execute_request runs code, namespace persists"]
    assert to_dict(result)["needs"] == find_step("5").needs


def test_forged_message_acceptance_fails_step_3(tmp_path):
    lax = tmp_path / "lax.py"  # a step-03 script that forgot to check signatures
    lax.write_text((BUILD / "03_sign_and_verify.py").read_text().replace(
        "if not hmac.compare_digest(signature, sign(parts)):", "if False:"))
    result = run_check("3", lax)
    assert not result.passed
    assert "wrong key" in result.checks[-1].detail


@pytest.mark.parametrize("name", ["3", "03", "03_sign_and_verify", "03_sign_and_verify.py"])
def test_step_names(name):
    assert find_step(name).number == 3


@pytest.mark.parametrize("name", ["0", "8", "nope", ""])
def test_unknown_steps(name):
    with pytest.raises(UnknownStep):
        find_step(name)
