"""`kij repl-diff`: python3 as a script, python3's own REPL, terminal IPython and the
kernel, on the same snippet — each layer's facts checked against a real run, and the
plain REPL checked against python3 itself (on a pipe and on a pty)."""

import json
import subprocess

import pytest

from conftest import no_traceback
from kij.lessons.repl_diff import CLAIMS, SNIPPET, TAKEAWAY


def by_note(data):
    return {n["layer"]: n["seen"] for n in data["notes"]}


def by_layer(data):
    return {i["layer"]: i for i in data["interpreters"]}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """One `kij repl-diff --json` of the default snippet, shared by the facts tests."""
    from conftest import KijRunner

    run = KijRunner(tmp_path_factory.mktemp("repl")).run("repl-diff", "--json")
    assert run.returncode == 0, run.stderr
    assert no_traceback(run.stderr)
    return json.loads(run.stdout)


def test_the_four_interpreters_in_order(default_run):
    assert default_run["snippet"] == SNIPPET == "2 + 2\n_ * 10\n_1 + _2\nimport math\nmath.sqrt(-1)\n"
    assert [i["layer"] for i in default_run["interpreters"]] == ["script", "repl", "ipython", "kernel"]
    assert [i["name"] for i in default_run["interpreters"]] == [
        "python3 - (script)", "python3 -i (REPL)", "IPython", "python3 kernel"]


def test_a_script_echoes_nothing_and_has_no_underscore(default_run):
    script = by_layer(default_run)["script"]
    assert script["exit_code"] == 1
    assert script["printed"] == []
    assert script["error"] == "NameError: name '_' is not defined"
    assert script["error_line"] == 2


def test_the_plain_repl_echoes_and_sets_underscore(default_run):
    """The claim today's code denied: python3's own REPL echoes 4 and 40 — so `_` held
    4 when `_ * 10` ran — and only IPython's numbered `_1` is missing."""
    repl = by_layer(default_run)["repl"]
    assert repl["printed"] == ["4", "40"]
    assert repl["exit_code"] == 0  # it read on after both errors
    assert repl["errors"][0].startswith("NameError: name '_1' is not defined")
    assert repl["errors"][1] == "ValueError: math domain error"
    assert not any("name '_' is not defined" in e for e in repl["errors"])
    assert ">>> 4\n>>> 40\n" in repl["transcript"]  # no typed line between prompt and value
    assert "Cell In[" not in repl["transcript"]


def test_ipython_numbers_its_history(default_run):
    ipython = by_layer(default_run)["ipython"]
    assert ipython["outs"] == {"1": "4", "2": "40", "3": "44"}  # `_1 + _2` is 44
    assert "In [1]: Out[1]: 4" in ipython["transcript"]
    assert "Cell In[5], line 1" in ipython["transcript"] and "----> 1 math.sqrt(-1)" in ipython["transcript"]
    assert ipython["errors"] == ["ValueError: math domain error"]
    assert "\x1b" not in ipython["transcript"] and "transcript_ansi" not in ipython


def test_the_kernel_is_the_same_ipython(default_run):
    kernel = by_layer(default_run)["kernel"]
    cells = kernel["cells"]
    assert [c["code"] for c in cells] == ["2 + 2", "_ * 10", "_1 + _2", "import math", "math.sqrt(-1)"]
    assert [c["execution_count"] for c in cells] == [1, 2, 3, 4, 5]
    assert [c["result"] for c in cells] == ["4", "40", "44", None, None]
    assert "execute_result" in cells[0]["msg_types"] and "execute_result" not in cells[3]["msg_types"]
    assert (cells[4]["ename"], cells[4]["evalue"]) == ("ValueError", "math domain error")
    assert kernel["outs"] == by_layer(default_run)["ipython"]["outs"]
    assert ", ipython " in kernel["version"]
    # all four from the project environment
    script = by_layer(default_run)["script"]
    assert kernel["executable"] == script["executable"]
    assert by_layer(default_run)["repl"]["executable"] == f"{script['executable']} -i"


def test_notes_and_takeaway_say_what_was_seen(default_run):
    notes = {n["layer"]: n["seen"] for n in default_run["notes"]}
    assert notes["script"].startswith("echoed nothing; died on line 2: NameError: name '_' is not defined")
    assert notes["repl"].startswith("echoed 4, 40; `_` was set (`_ * 10` raised no NameError)")
    assert "NameError: name '_1' is not defined: numbered names are IPython's" in notes["repl"]
    assert notes["ipython"].startswith("Out[1]: 4, Out[2]: 40, Out[3]: 44; `_1 + _2` worked")
    assert "every Out[n] and error as terminal IPython printed them" in notes["kernel"]
    assert default_run["unshown"] == []
    assert default_run["takeaway"] == TAKEAWAY
    assert TAKEAWAY.startswith("Python's own REPL echoes each value and sets `_` (sys.displayhook).")
    assert "not from Python" not in TAKEAWAY
    assert "`>>> 4` and `In [1]: Out[1]: 4`" in default_run["stdin_note"]
    assert "not a terminal" in default_run["stdin_note"]


def test_the_repl_facts_match_python3_itself(default_run):
    """The reference: python3 -i on the same stdin, its stdout alone (sys.displayhook
    writes there; prompts and tracebacks go to stderr) is exactly what kij says it echoed."""
    repl = by_layer(default_run)["repl"]
    python = repl["executable"].removesuffix(" -i")
    done = subprocess.run([python, "-q", "-i"], input=SNIPPET, capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == repl["printed"]
    assert ">>> " in done.stderr and "NameError: name '_1'" in done.stderr


def test_on_a_terminal_the_repl_prints_the_same_values(default_run):
    """What the lesson says of a pty: the typed line is echoed too, the values are the
    same. python3 -i on a real pseudo-terminal, line by line."""
    pexpect = pytest.importorskip("pexpect")
    python = by_layer(default_run)["repl"]["executable"].removesuffix(" -i")
    child = pexpect.spawn(python, ["-q", "-i"], encoding="utf-8", timeout=30,
                          env={"TERM": "dumb", "PATH": "/usr/bin:/bin"})
    try:
        screen = ""
        for line in ["2 + 2", "_ * 10"]:
            child.expect(">>> ")
            screen += child.before + child.after
            child.sendline(line)
        child.expect(">>> ")
        screen += child.before + child.after
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert screen.replace("\r", "") == ">>> 2 + 2\n4\n>>> _ * 10\n40\n>>> "
    assert by_layer(default_run)["repl"]["printed"] == ["4", "40"]


def test_the_screen_at_80_columns(kij):
    run = kij.run("repl-diff", env={"COLUMNS": "80"})
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0] == "kij repl-diff — one snippet, 4 interpreters"
    for fact in ["python3 - (script)", "python3 -i (REPL)", "IPython", "python3 kernel",
                 ">>> 4", ">>> 40", "In [1]: Out[1]: 4", "Out[3]: 44", "← [3] execute_result 44",
                 "NameError: name '_' is not defined", "what each layer adds", "why on one line?"]:
        assert fact in run.stdout, fact
    flat = " ".join(line.strip() for line in lines)
    assert "echoed 4, 40; `_` was set" in flat
    assert TAKEAWAY in flat
    assert "not from Python" not in flat
    assert "\x1b" not in run.stdout
    assert no_traceback(run.stderr)


def test_a_snippet_without_underscore_claims_only_what_it_shows(kij, tmp_path):
    """A multi-line statement stays one cell (the kernel's is_complete says when it ends);
    with no `_` in the snippet the takeaway does not claim what this run never showed."""
    snippet = tmp_path / "loop.py"
    snippet.write_text("total = 0\nfor i in range(4):\n    total += i\n\ntotal\n")
    run = kij.run("repl-diff", "--file", str(snippet), "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    layers = by_layer(data)
    assert [c["code"] for c in layers["kernel"]["cells"]] == ["total = 0", "for i in range(4):\n    total += i", "total"]
    assert layers["kernel"]["cells"][-1]["result"] == "6"
    assert layers["repl"]["printed"] == ["6"] and layers["script"]["printed"] == []
    assert layers["ipython"]["outs"] == {"3": "6"}
    assert data["unshown"] == ["repl", "script", "ipython"]
    assert data["takeaway"] == (CLAIMS["kernel"] + " Not shown by this snippet (run it without --code to see "
                                "them): that the REPL sets `_`; that a script has no `_`; IPython's Out[n], "
                                "`_2` and rich tracebacks.")
    assert "every Out[n] as terminal IPython printed them" in by_note(data)["kernel"]
    assert "`_` was set" not in json.dumps(data["notes"])


@pytest.mark.parametrize("args, says", [
    (["--file", "/no/such/file.py"], "no such file"),
    (["--code", "   \n"], "empty"),
    (["--file", "BINARY"], "binary"),
    (["--code", "1", "--file", "x.py"], "not both"),
])
def test_repl_diff_bad_input_is_one_line_exit_2(kij, tmp_path, args, says):
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x7fELF\x00\x01\x02")
    args = [str(binary) if a == "BINARY" else a for a in args]
    run = kij.run("repl-diff", *args)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], run.stderr
    assert no_traceback(run.stderr) and run.stdout == ""
