"""`kij swap`: one client function drives python3 and bash."""

import json
import shutil

from conftest import no_traceback


def by_kernel(data):
    return {a["kernel"]: a for a in data["answers"]}


def test_swap_json_python_and_bash(kij):
    run = kij.run("swap", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    answers = by_kernel(data)
    py, sh = answers["python3"], answers["bash"]
    assert py["language"] == "python" and py["implementation"] == "ipython"
    assert py["output"].splitlines() == [f"python kernel: {py['language_version']}", "1024"]
    assert sh["language"] == "bash" and sh["implementation"] == "bash_kernel"
    assert sh["output"].startswith("bash kernel: ") and sh["output"].endswith("2^10 = 1024")
    assert "GNU bash" in sh["banner"]
    assert py["pid"] != sh["pid"]
    assert data["elapsed_ms"] > 0 and py["boot_ms"] > 0 and sh["boot_ms"] > 0


def test_swap_screen(kij):
    run = kij.run("swap")
    assert run.returncode == 0, run.stderr
    assert "kernel = python3" in run.stdout and "kernel = bash" in run.stdout
    assert "1024" in run.stdout and "2^10 = 1024" in run.stdout
    assert no_traceback(run.stderr)


def test_swap_unknown_kernel_is_one_line_exit_2(kij):
    run = kij.run("swap", "--kernel", "python3", "--kernel", "no-such-kernel")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "no-such-kernel" in lines[0] and "python3" in lines[0] and "bash" in lines[0]
    assert run.stdout == ""


def test_swap_without_bash_still_runs_python(kij, tmp_path):
    assert shutil.which("bash"), "this test needs bash on the machine to hide it"
    empty = tmp_path / "empty-path"
    empty.mkdir()
    run = kij.run("swap", "--json", env={"PATH": str(empty)})
    assert run.returncode == 0, run.stderr
    answers = by_kernel(json.loads(run.stdout))
    assert "no bash executable" in answers["bash"]["skipped"]
    assert answers["python3"]["output"].endswith("1024")


def test_swap_any_kernelspec_by_name(kij):
    run = kij.run("swap", "--json", "--kernel", "bash")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert [a["kernel"] for a in data["answers"]] == ["bash"]
    assert data["takeaway"].startswith("One bash kernel answered, so nothing was swapped")


def test_swap_same_kernel_twice_is_refused_before_booting(kij):
    run = kij.run("swap", "-k", "python3", "-k", "python3")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "kij: got the same kernel twice (python3): swap compares different kernels, e.g. -k python3 -k bash"]
    assert run.stdout == "" and "different languages" not in run.stdout


def test_swap_takeaway_says_different_languages_only_when_they_were(kij):
    data = json.loads(kij.run("swap", "--json").stdout)
    assert data["takeaway"].startswith("Same protocol, same client code, different languages")
    same = kij.run("swap", "--json", "-k", "python3", "-k", "kij-native")  # kij's own Python kernel
    assert same.returncode == 0, same.stderr
    data = json.loads(same.stdout)
    assert "different languages" not in data["takeaway"]
    assert data["takeaway"].startswith("Same protocol, same client code — but all 2 kernels speak python")
