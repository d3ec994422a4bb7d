"""`kij repl-diff`: bare python3, terminal IPython and the kernel, on the same snippet."""

import json

import pytest

from conftest import no_traceback


def by_name(data):
    return {i["name"]: i for i in data["interpreters"]}


def test_repl_diff_json_facts(kij):
    run = kij.run("repl-diff", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["snippet"] == "2 + 2\n_ * 10\nimport math\nmath.sqrt(-1)\n"
    py, ip, kernel = by_name(data)["python3"], by_name(data)["IPython"], by_name(data)["python3 kernel"]

    # bare python: a script — no echo, no `_`, dies on line 2
    assert py["exit_code"] == 1
    assert py["error"] == "NameError: name '_' is not defined"
    assert 'line 2' in py["transcript"] and "4" not in py["transcript"].replace("line 2", "")

    # terminal IPython: Out[n] echoes, `_` works, the ValueError traceback
    assert ip["outs"] == {"1": "4", "2": "40"}
    assert "Out[2]: 40" in ip["transcript"]
    assert ip["error"].startswith("ValueError")
    assert "\x1b" not in ip["transcript"]  # colour codes are kept out of the facts
    assert "transcript_ansi" not in ip

    # the kernel: one execute_request per line, counts 1..4, ename/evalue on the last
    cells = kernel["cells"]
    assert [c["code"] for c in cells] == ["2 + 2", "_ * 10", "import math", "math.sqrt(-1)"]
    assert [c["execution_count"] for c in cells] == [1, 2, 3, 4]
    assert [c["result"] for c in cells] == ["4", "40", None, None]
    assert "execute_result" in cells[0]["msg_types"] and "execute_result" not in cells[2]["msg_types"]
    assert cells[3]["ename"] == "ValueError" and cells[3]["evalue"] == ip["error"].split(": ", 1)[1]

    # all three from the project environment
    assert py["executable"] == kernel["executable"]
    assert ip["executable"].startswith(py["executable"])
    assert py["version"].startswith("Python ") and ip["version"].startswith("IPython ")


def test_repl_diff_screen_with_a_file(kij, tmp_path):
    """A multi-line statement stays one cell (the kernel's is_complete says when it ends);
    piped output carries no escape codes even though IPython's were captured."""
    snippet = tmp_path / "loop.py"
    snippet.write_text("total = 0\nfor i in range(4):\n    total += i\n\ntotal\n")
    run = kij.run("repl-diff", "--file", str(snippet), "--json")
    assert run.returncode == 0, run.stderr
    kernel = by_name(json.loads(run.stdout))["python3 kernel"]
    assert [c["code"] for c in kernel["cells"]] == ["total = 0", "for i in range(4):\n    total += i", "total"]
    assert kernel["cells"][-1]["result"] == "6"

    run = kij.run("repl-diff")
    assert run.returncode == 0, run.stderr
    for fact in ["python3", "IPython", "python3 kernel", "NameError", "Out[2]: 40", "execute_result 40", "→"]:
        assert fact in run.stdout, fact
    assert "\x1b" not in run.stdout
    assert no_traceback(run.stderr)


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
