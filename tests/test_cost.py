"""kij's own cost beside its kernels (issue 18): what a command does not need, it does
not import or run — and what it does is unchanged.

Each check runs in a fresh interpreter, so `sys.modules` tells what was imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from kij.cli import COMMANDS


def fresh(code: str) -> dict:
    """Run code in a new interpreter; it prints one JSON document, returned here."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


ARGVS = [
    ["state"], ["state", "--json", "--timeout", "2.5"], ["swap"], ["swap", "-k", "python3", "-k", "bash"],
    ["frames", "-c", "x = 1", "--kernel", "bash", "--save", "a.jsonl", "--timeout", "7", "--json"],
    ["frames", "--timeout", "1e-3"], ["tour", "--pause"], ["repl-diff", "-c", "1"], ["tap", "prune"],
    ["which", "-k", "bash", "--timeout", "+3."], ["view", "a.jsonl", "-o", "a.html", "--large"],
    ["parallel", "--engines", "3", "--timeout", "5"], ["server", "--url", "http://h:1", "--token", "t", "-k", "k1"],
    ["export", "nb.ipynb", "-o", "nb.html", "--timeout", "9"],
]


def test_commands_parse_without_pydantic_and_exactly_as_typer_does():
    """Every command's flags parse without importing pydantic, to the very values (and
    types) typer's own pydantic coercion gives them."""
    got = fresh(f"""
        import json, sys
        from kij.cli import command_line
        argvs = {ARGVS!r}
        ours = []
        for argv in argvs + [[c] for c in {list(COMMANDS)!r} if c not in ("check", "view")]:
            cmd, args, prog = command_line(argv)
            ours.append(repr(sorted(cmd.make_context(prog, args).params.items())))
        before = "pydantic" in sys.modules
        from typer.main import get_command
        from kij.app import app
        theirs = []
        for argv in argvs:
            cmd = get_command(app).commands[argv[0]]  # a fresh command: typer's own coercion
            theirs.append(repr(sorted(cmd.make_context(argv[0], argv[1:]).params.items())))
        print(json.dumps({{"pydantic": before, "ours": ours[:len(argvs)], "theirs": theirs}}))
    """)
    assert got["pydantic"] is False
    assert got["ours"] == got["theirs"]


@pytest.mark.parametrize("value", ["abc", "inf", "1,5", ""])
def test_a_value_not_of_plain_form_gets_typers_own_answer(value):
    got = fresh(f"""
        import json
        from kij.cli import command_line
        from typer.main import get_command
        from kij.app import app

        def answer(cmd):
            try:
                return repr(cmd.make_context("kij state", ["--timeout", {value!r}]).params["timeout"])
            except Exception as exc:
                return type(exc).__name__ + ": " + exc.format_message()

        ours = answer(command_line(["state"])[0])
        print(json.dumps([ours, answer(get_command(app).commands["state"])]))
    """)
    assert got[0] == got[1]


def test_finding_kernelspecs_does_not_import_ipython_and_finds_what_jupyter_client_finds():
    got = fresh("""
        import json, sys
        from kij.kernel import kernelspecs, spec_manager
        ours, dirs = kernelspecs(), spec_manager().kernel_dirs
        imported = "IPython" in sys.modules
        from jupyter_client.kernelspec import KernelSpecManager
        ksm = KernelSpecManager()
        print(json.dumps({"ipython": imported, "same": ours == ksm.find_kernel_specs(),
                          "dirs": dirs == ksm.kernel_dirs}))
    """)
    assert got == {"ipython": False, "same": True, "dirs": True}


def test_no_spinner_thread_where_no_spinner_can_be_seen():
    """stderr not a terminal: the boot spinner starts no refresh thread (it would wake
    12 times a second through every boot)."""
    got = fresh("""
        import json, threading
        from kij.cli import booting
        before = threading.active_count()
        with booting(["python3"]) as status:
            status.update("still booting")
            during = threading.active_count()
        print(json.dumps([before, during]))
    """)
    assert got[0] == got[1]


def test_the_environment_has_no_iri_grammar_and_nbformat_still_refuses_bad_notebooks(tmp_path):
    """jsonschema's optional rfc3987_syntax builds a Lark grammar each time jsonschema is
    imported (2.9 s of CPU per server, nbconvert or kij export); pyproject.toml keeps it
    out of the environment. nbformat still validates: a bad notebook is refused."""
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    doc = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
    good.write_text(json.dumps(doc))
    bad.write_text(json.dumps({**doc, "cells": [{"cell_type": "code", "source": 1}]}))
    got = fresh(f"""
        import importlib.util, json, sys
        from kij.errors import UserError
        from kij.lessons.export import read_notebook
        read_notebook({str(good)!r})
        try:
            read_notebook({str(bad)!r})
            refused = False
        except UserError:
            refused = True
        print(json.dumps({{"grammar": importlib.util.find_spec("rfc3987_syntax") is not None,
                          "jsonschema": "jsonschema" in sys.modules, "refused": refused}}))
    """)
    assert got == {"grammar": False, "jsonschema": True, "refused": True}


def test_a_kij_command_writes_the_bytecode_of_what_it_imports(tmp_path):
    """Where PYTHONDONTWRITEBYTECODE is set, every kij command compiled typer, rich and
    kij from source (0.5 s of CPU); kij's process writes their .pyc files (here into a
    private PYTHONPYCACHEPREFIX, so the test sees only this run's)."""
    prefix = tmp_path / "pycache"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(prefix)}
    run = subprocess.run([sys.executable, "-m", "kij", "view", str(tmp_path / "missing.jsonl")], env=env,
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 2, run.stderr  # bad input: the app and its imports loaded, nothing booted
    written = {p.parent.name for p in prefix.rglob("*.pyc")}
    assert {"typer", "rich", "kij"} <= written, sorted(written)


def test_a_json_run_off_a_terminal_never_imports_rich():
    """--json with stderr not a terminal: no spinner to draw and no view to draw, so rich
    (30-45 ms of imports) stays out; drawn, the same result imports its view."""
    got = fresh("""
        import contextlib, io, json, sys
        from kij import app, cli
        from kij.lessons.state import StateResult
        with cli.spinner("booting …"):
            pass
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            app.show(StateResult("python3", "kernel-x.json"), True, "state")
        as_json = "rich" in sys.modules or "kij.views.state" in sys.modules
        with contextlib.redirect_stdout(io.StringIO()):
            app.show(StateResult("python3", "kernel-x.json"), False, "state")
        print(json.dumps({"json_imported_rich": as_json, "drawn_imported_view": "kij.views.state" in sys.modules,
                          "json_printed": bool(out.getvalue().strip())}))
    """)
    assert got == {"json_imported_rich": False, "drawn_imported_view": True, "json_printed": True}


@pytest.mark.parametrize("command", ["frames", "view"])
def test_a_whole_json_command_never_imports_rich(tmp_path, command):
    """The whole command, not only `show`: `kij frames --json` imported its view (and
    rich, about 40 ms of CPU) up front, for a notice it might never print."""
    from kij import trace

    capture = tmp_path / "c.jsonl"
    trace.save(trace.Capture(messages=[trace.undecoded("hb", "to_kernel", 0.0, [b"ping"], "a test record")]), capture)
    argv = {"frames": ["frames", "--load", str(capture), "--json"], "view": ["view", str(capture), "--json"]}[command]
    got = fresh(f"""
        import contextlib, io, json, sys
        from kij import cli
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.run({argv!r})
        print(json.dumps({{"code": code, "rich": sorted(m for m in sys.modules if m.split(".")[0] == "rich")[:3],
                          "printed": sorted(json.loads(out.getvalue()))[:1]}}))
    """)
    assert got["code"] == 0 and got["rich"] == [] and got["printed"], got
