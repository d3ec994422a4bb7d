"""`kij which`: sys.executable stays put while `which python3` follows PATH."""

import json
import os
import sys

from conftest import no_traceback


def test_which_json_executable_unchanged_which_moved(kij):
    run = kij.run("which", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    plain, tricked = data["kernels"]
    # the kernel's interpreter is the project environment's, in both kernels
    assert plain["executable"] == tricked["executable"] == sys.executable
    assert plain["prefix"] == tricked["prefix"] == sys.prefix
    # … but the shell's python3 moved to the decoy
    decoy = data["decoy"]
    assert tricked["path_first"] == decoy["directory"]
    assert tricked["which_python3"] == decoy["program"]
    assert plain["which_python3"] != tricked["which_python3"]
    assert "decoy python3" in tricked["python3_says"] and plain["python3_says"].startswith("Python 3")
    assert data["executable_unchanged"] is True and data["which_moved"] is True
    # the decoy is gone, the launch facts are real
    assert data["decoy_removed"] is True and not os.path.exists(decoy["directory"])
    assert data["spec_argv"][0] == "python" and data["launched_argv"][0] == sys.executable
    assert data["kij_executable"] == sys.executable
    assert plain["pid"] != tricked["pid"]
    assert "sys.executable" in data["rule"]


def test_which_screen_ends_with_the_rule(kij):
    run = kij.run("which")
    assert run.returncode == 0, run.stderr
    assert "sys.executable" in run.stdout and "!which python3" in run.stdout
    assert run.stdout.strip().splitlines()[-1].startswith("Rule: Check sys.executable first")
    assert no_traceback(run.stderr)


def test_which_needs_a_python_kernel(kij):
    run = kij.run("which", "--kernel", "bash")
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and "bash" in run.stderr
    run = kij.run("which", "--kernel", "no-such-kernel")
    assert run.returncode == 2 and no_traceback(run.stderr) and "python3" in run.stderr
