"""The command line itself: help that is quick to import and plain to read, input
refused before anything boots, the first words on a terminal, "stopping" after
Ctrl-C, and a closed pipe that ends quietly. (How fast is in benchmarks/bench_cli.py:
here only what --help imports, never a time.)"""

from __future__ import annotations

import ast
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import no_traceback, wait_until

from kij.cli import COMMANDS, quick_help

APP = Path(__file__).parents[1] / "src" / "kij" / "app.py"
TYPE_LABEL = re.compile(r"<(bool|str|int|float|path|list\[.*?\])>|\{[A-Za-z_]+\}")


def imported_by(kij, *args: str) -> set[str]:
    """The modules a kij command line imports, from python -X importtime."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "kij", *args], env=kij.env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def commands() -> list[ast.FunctionDef]:
    """The command functions of kij.app, from the source."""
    return [node for node in ast.parse(APP.read_text()).body if isinstance(node, ast.FunctionDef)
            and any(getattr(getattr(d, "func", None), "attr", "") == "command" for d in node.decorator_list)]


def docstrings() -> dict[str, str]:
    """Each command in kij.app → its function's docstring, read from the source."""
    found = {}
    for node in commands():
        (deco,) = [d for d in node.decorator_list if getattr(getattr(d, "func", None), "attr", "") == "command"]
        found[deco.args[0].value if deco.args else node.name] = ast.get_docstring(node)
    return found


def test_every_command_has_its_docstring_as_help_and_the_quick_help_agrees():
    docs = docstrings()
    assert list(docs) == list(COMMANDS)
    for name, doc in docs.items():
        assert doc.splitlines()[0] == COMMANDS[name], name


def test_each_command_body_is_a_few_lines_and_leaves_flag_checks_to_its_lesson():
    for node in commands():
        body = [stmt for stmt in node.body[1:] if not isinstance(stmt, (ast.Import, ast.ImportFrom))]
        lines = sum(stmt.end_lineno - stmt.lineno + 1 for stmt in body)
        assert lines <= 16, f"kij {node.name}: {lines} lines"
        raised = [n for n in ast.walk(node) if isinstance(n, ast.Raise) and "UserError" in ast.unparse(n)]
        assert not raised, f"kij {node.name} checks its flags itself: {ast.unparse(raised[0])}"


def test_the_lessons_refuse_bad_flags_before_anything_runs():
    from kij.errors import UserError
    from kij.lessons import check, frames, tap

    refused = [
        (lambda: frames.check_flags(code="1", existing=None, save=None, load="saved.jsonl"), "--load shows"),
        (lambda: tap.check_flags("install", False, None, None, False, None, False), "needs --kernel NAME"),
        (lambda: tap.check_flags("uninstall", True, "python3", None, False, None, False), "not --follow"),
        (lambda: tap.check_flags("prune", False, "python3", None, False, None, False), "takes no flags"),
        (lambda: tap.check_flags(None, True, None, None, False, None, True), "--follow draws for people"),
        (lambda: tap.check_flags("instal", False, None, None, False, None, False), "unknown action 'instal'"),
        (lambda: check.check_flags(None, Path("mine.py")), "--file needs a step"),
    ]
    for call, words in refused:
        with pytest.raises(UserError, match=re.escape(words)):
            call()
    tap.check_flags("install", False, "python3", None, False, None, True)  # fine: nothing raised
    tap.check_flags(None, True, None, "kernel.json", True, None, False)
    frames.check_flags(code=None, existing=None, save=None, load="saved.jsonl")


def test_quick_help_wraps_to_the_terminal():
    for columns in (50, 80, 120):
        text = quick_help(columns)
        assert all(len(line) < columns for line in text.splitlines()), columns
        for name in COMMANDS:
            assert f"  {name}  " in text


def test_top_level_help_imports_neither_typer_nor_rich(kij):
    modules = imported_by(kij, "--help")
    assert not {m for m in modules if m.split(".")[0] in ("typer", "rich", "jupyter_client")}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_help_is_plain_and_cheap(kij, command):
    """No pydantic, no rich help machinery, no jupyter_client behind `kij X --help`;
    and the text has no Python type labels and no trailing spaces."""
    modules = imported_by(kij, command, "--help")
    heavy = {m for m in modules if m.split(".")[0] in ("pydantic", "pydantic_core", "jupyter_client", "zmq")
             or m in ("typer.rich_utils", "rich.markdown")}
    assert heavy == set()
    run = kij.run(command, "--help", env={"COLUMNS": "80"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"Usage: kij {command} [OPTIONS]")
    assert " ".join(COMMANDS[command].split()[:4]) in run.stdout
    assert not TYPE_LABEL.search(run.stdout), TYPE_LABEL.search(run.stdout)
    assert not re.search(r"[ \t]$", run.stdout, re.M)
    assert all(len(line) <= 80 for line in run.stdout.splitlines())


@pytest.mark.parametrize("command", ["frames", "swap", "state", "tour"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_timeout_not_positive_is_refused_before_booting(kij, command, value):
    proc = kij.popen(command, "--timeout", value)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert err.strip().splitlines() == [f"kij: Invalid value for '--timeout': must be more than 0 seconds, not {value}"]
    assert out == "" and kij.connection_files() == []
    kij.assert_clean()


def test_closed_pipe_ends_quietly_with_0(kij):
    """The reader is gone before kij writes (as `| head` is after its lines): exit 0,
    nothing on stderr, every kernel shut down."""
    for args in (["swap", "-k", "python3"], ["swap", "-k", "python3", "--json"]):
        proc = kij.popen(*args)
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait(timeout=90)
        assert proc.returncode == 0, (args, err)
        assert err == "", (args, err)
        kij.assert_clean()


def read_pty(fd: int, proc, until, timeout: float = 90) -> str:
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(seen.decode(errors="replace")):
        if select.select([fd], [], [], 0.1)[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
        elif proc.poll() is not None:
            break
    return seen.decode(errors="replace")


def test_first_words_on_a_terminal_then_stopping_after_ctrl_c(kij):
    """stderr is a terminal: 'kij swap: starting …' comes before anything else. A
    Ctrl-C once the kernels are launched: 'stopping 2 kernels' at once, then exit 130."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(kij.command("swap"), env=kij.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    try:
        first = read_pty(master, proc, lambda s: "…" in s)
        assert first.startswith("kij swap: starting …"), first
        wait_until(lambda: len(kij.connection_files()) == 2, timeout=60, what="both kernels launched")
        proc.send_signal(signal.SIGINT)
        rest = read_pty(master, proc, lambda s: "interrupted" in s)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 130
    assert "stopping 2 kernels kij started (python3, bash)" in rest, rest
    assert rest.index("stopping") < rest.index("interrupted") and no_traceback(rest)
    kij.assert_clean()


def test_stopping_is_said_on_a_pipe_too_and_only_after_ctrl_c(kij):
    proc = kij.popen("frames")
    wait_until(lambda: kij.connection_files(), timeout=60, what="the kernel launched")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert lines == ["stopping 1 kernel kij started (python3) …",
                     "kij: interrupted; every kernel kij started has been shut down"], err
    kij.assert_clean()
    done = kij.run("swap", "-k", "bash", "--json")
    assert done.returncode == 0 and done.stderr == "", done.stderr  # a normal end says nothing


def test_unknown_command_names_the_commands(kij):
    run = kij.run("framez")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        f"kij: no command 'framez'; the commands are {', '.join(COMMANDS)} (kij --help)"]
