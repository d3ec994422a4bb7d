"""`kij export` with real nbconvert, the real tap and a real kernel.

kij runs as a subprocess in conftest's sandbox (its own runtime dir, and here its own
TMPDIR too, where kij keeps its private directory), so every test also proves that no
process, connection file or temporary directory survives it. The HTML is checked
against what `jupyter nbconvert --execute --to html` writes for the same notebook; the
trace is read independently of kij's own summary of it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from rich.console import Console

from conftest import no_traceback, wait_until
from kij import trace
from kij.lessons import export as lesson
from kij.views import export as view

DEMO = Path(__file__).resolve().parents[1] / "demos" / "export" / "tiny.ipynb"

# A whole nbconvert run — kernel boot, three cells, a 280 kB page — takes 10 s on an idle
# machine and over a minute on a loaded one: generous limits on the waits, none on outcomes.
pytestmark = pytest.mark.timeout(900)


def sandboxed(kij, tmp_path: Path) -> Path:
    """A TMPDIR of the run's own: kij's private directory must be gone from it afterwards."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    kij.env["TMPDIR"] = str(tmp)
    return tmp


def notebook(path: Path, *cells, kernel: str = "python3") -> Path:
    nb = new_notebook(cells=list(cells), metadata={"kernelspec": {"name": kernel, "display_name": kernel,
                                                                  "language": "python"}})
    nbformat.write(nb, path)
    return path


def fingerprint(path: Path) -> tuple:
    return path.read_bytes(), path.stat().st_mtime_ns


# --- one whole run, checked from every side -------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """kij export on a copy of the demo notebook, -o, --json and --save; the run's aftermath."""
    from conftest import KijRunner

    tmp_path = tmp_path_factory.mktemp("export")
    kij = KijRunner(tmp_path)
    tmp = sandboxed(kij, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    nb = work / "tiny.ipynb"
    shutil.copy(DEMO, nb)
    before = fingerprint(nb)
    run = kij.run("export", str(nb), "-o", str(tmp_path / "kij.html"), "--save", str(tmp_path / "trace.jsonl"),
                  "--json", timeout=180)
    return {"run": run, "doc": json.loads(run.stdout) if run.returncode == 0 else None, "nb": nb,
            "before": before, "tmp": tmp, "dir": tmp_path, "work": work}


def test_it_succeeds_and_leaves_nothing_behind(exported):
    run = exported["run"]
    assert run.returncode == 0, run.stderr
    assert no_traceback(run.stderr)
    assert list(exported["tmp"].iterdir()) == []  # kij's private directory (trace, connection files) is gone
    assert sorted(p.name for p in exported["work"].iterdir()) == ["tiny.ipynb"]  # nothing beside the notebook


def test_the_notebook_file_is_never_modified(exported):
    assert fingerprint(exported["nb"]) == exported["before"]
    assert exported["doc"]["notebook_unchanged"] is True


def test_the_trace_holds_the_code_and_none_of_the_markdown(exported):
    nb = nbformat.read(exported["nb"], as_version=4)
    saved = exported["dir"] / "trace.jsonl"
    text = saved.read_text()
    cap = trace.load(saved)
    sent = [r for r in cap.messages if r.direction == "to_kernel" and r.msg_type == "execute_request"]
    assert [r.content["code"] for r in sent] == [c.source for c in nb.cells if c.cell_type == "code"]
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert markdown
    for source in markdown:
        for piece in [source, *source.splitlines()]:
            assert json.dumps(piece)[1:-1] not in text and piece not in text
    assert "tiny.ipynb" not in text  # the kernel never hears the file's name either
    types = [(r.channel, r.msg_type) for r in cap.messages if r.direction == "to_kernel" and r.msg_type]
    assert ("shell", "kernel_info_request") in types and types[-1] == ("control", "shutdown_request")
    assert all(r.signature_valid is True for r in cap.messages if r.msg_type)


def test_what_changed_in_the_notebook_is_the_executed_outputs(exported):
    stage = exported["doc"]["execute"]
    code = [c for c in stage["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == [[None, 1], [None, 2], [None, 3]]
    assert [c["outputs"][1] for c in code] == [["stream stdout"], ["execute_result text/plain"],
                                               ["execute_result text/html"]]
    assert all(c["sent"] for c in code) and stage["one_per_code_cell"] and stage["markdown_in_trace"] == []
    assert "language_info" in stage["notebook_metadata_added"]


def test_the_html_is_what_jupyter_nbconvert_writes(exported, tmp_path):
    """`jupyter nbconvert --execute --to html` on the same notebook (same name: it is the page's title)."""
    out = tmp_path / "nbconvert"
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "html",
                    "--output-dir", str(out), str(exported["nb"])], check=True, capture_output=True, timeout=180)
    ours = (exported["dir"] / "kij.html").read_text()
    theirs = (out / "tiny.html").read_text()
    assert ours == theirs  # nothing in this notebook varies between runs: no normalising needed
    assert exported["doc"]["write"]["bytes"] == len(ours.encode())


def test_the_exporter_and_postprocessor_stages_are_described_from_the_page(exported):
    html = (exported["dir"] / "kij.html").read_text()
    ex, wr = exported["doc"]["export"], exported["doc"]["write"]
    assert (ex["template_name"], ex["template_file"]) == ("lab", "index.html.j2")
    assert Path(ex["template_path"]).is_file()
    assert ex["markup"]["code cells"] == html.count("jp-Cell jp-CodeCell") == 3
    assert ex["markup"]["markdown cells"] == html.count("jp-Cell jp-MarkdownCell") == 2
    assert wr["external"] and all(u in html for u in wr["external"])
    assert wr["changed_by_postprocessor"] is False and wr["kept"] is True


def test_the_postprocessor_is_registered_as_nbconvert_registers_any(tmp_path):
    """jupyter nbconvert itself finds kij's postprocessor by its dotted name (--post)."""
    nb = notebook(tmp_path / "p.ipynb", new_code_cell("1 + 1"))
    done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--post",
                           lesson.POSTPROCESSOR, str(nb)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "p.html").exists()


def test_the_saved_trace_loads_in_kij_frames(exported, kij):
    run = kij.run("frames", "--load", str(exported["dir"] / "trace.jsonl"))
    assert run.returncode == 0, run.stderr
    assert "execute_request" in run.stdout and "shutdown_request" in run.stdout


# --- without -o, failures, signals ----------------------------------------------------------


def test_without_o_nothing_is_written(kij, tmp_path):
    tmp = sandboxed(kij, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    nb = notebook(work / "n.ipynb", new_markdown_cell("# hi"), new_code_cell("print(6 * 7)"))
    before = fingerprint(nb)
    run = subprocess.run(kij.command("export", "n.ipynb"), cwd=work, env=kij.env, capture_output=True,
                         text=True, timeout=180)
    kij.assert_clean()
    assert run.returncode == 0, run.stderr
    assert "kij's private temporary directory" in run.stdout
    assert sorted(p.name for p in work.iterdir()) == ["n.ipynb"]
    assert list(tmp.iterdir()) == []
    assert fingerprint(nb) == before


def test_a_cell_that_raises_is_nbconverts_cell_execution_error_exit_1(kij, tmp_path):
    tmp = sandboxed(kij, tmp_path)
    nb = notebook(tmp_path / "r.ipynb", new_code_cell("x = 1"), new_code_cell("1/0"), new_code_cell("print('never')"))
    before = fingerprint(nb)
    run = kij.run("export", str(nb), "-o", str(tmp_path / "r.html"), timeout=180)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "CellExecutionError" in run.stderr and no_traceback(run.stderr)
    assert "ZeroDivisionError" in run.stdout and "An error occurred while executing the following cell" in run.stdout
    assert not (tmp_path / "r.html").exists()
    assert list(tmp.iterdir()) == [] and fingerprint(nb) == before


def test_a_kernel_that_dies_mid_export_is_exit_1_and_nothing_is_left(kij, tmp_path):
    tmp = sandboxed(kij, tmp_path)
    nb = notebook(tmp_path / "d.ipynb", new_code_cell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
                  new_code_cell("print('never')"))
    run = kij.run("export", str(nb), "-o", str(tmp_path / "d.html"), timeout=180)
    assert run.returncode == 1
    assert "DeadKernelError" in run.stderr and no_traceback(run.stderr)
    assert "its last words:" in run.stderr and "died (exit code -9)" in run.stderr  # the tap's log says how
    assert not (tmp_path / "d.html").exists() and list(tmp.iterdir()) == []


def test_a_cell_past_the_timeout_is_exit_1_and_nothing_is_left(kij, tmp_path):
    tmp = sandboxed(kij, tmp_path)
    nb = notebook(tmp_path / "t.ipynb", new_code_cell("import time\ntime.sleep(120)"))
    run = kij.run("export", str(nb), "--timeout", "2", timeout=300)
    assert run.returncode == 1
    assert "CellTimeoutError" in run.stderr and run.stderr.count("\n") == 1 and no_traceback(run.stderr)
    assert "1 cell's metadata" in run.stdout
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_export_leaves_nothing_behind(kij, tmp_path, signum, code):
    tmp = sandboxed(kij, tmp_path)
    nb = notebook(tmp_path / "s.ipynb", new_code_cell("import time\nprint('sleeping', flush=True)\ntime.sleep(60)"))
    proc = kij.popen("export", str(nb))

    def cell_running() -> bool:  # the tap's trace has the stream the cell printed
        return any("sleeping" in p.read_text(errors="replace") for p in tmp.glob("kij-export-*/kij-tap/*.jsonl"))

    try:
        wait_until(cell_running, timeout=120, what="the cell to start")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert no_traceback(err)
    kij.assert_clean()
    assert list(tmp.iterdir()) == []


# --- bad input: one line, exit 2, before anything boots ------------------------------------


def bad_inputs(tmp: Path) -> dict:
    (tmp / "bad.ipynb").write_text("{bad")
    (tmp / "plain.json").write_text('{"a": 1}')
    (tmp / "invalid.ipynb").write_text('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"x": 1}]}')
    good = notebook(tmp / "good.ipynb", new_code_cell("1"))
    notebook(tmp / "other.ipynb", new_code_cell("1"), kernel="no-such-kernel")
    (tmp / "adir.html").mkdir()
    return {
        "missing": ([str(tmp / "nope.ipynb")], "no such notebook"),
        "directory": ([str(tmp)], "is a directory"),
        "invalid JSON": ([str(tmp / "bad.ipynb")], "is not valid JSON"),
        "not a notebook": ([str(tmp / "plain.json")], "not a notebook"),
        "invalid notebook": ([str(tmp / "invalid.ipynb")], "is not a valid notebook"),
        "unknown kernel": ([str(tmp / "other.ipynb")], "no kernel named 'no-such-kernel'"),
        "no such directory": ([str(good), "-o", str(tmp / "no" / "x.html")], "no such directory"),
        "-o is a directory": ([str(good), "-o", str(tmp / "adir.html")], "it is a directory"),
        "unwritable -o": ([str(good), "-o", "/proc/kij-export.html"], "cannot write"),
        "-o not html": ([str(good), "-o", str(tmp / "x.txt")], "does not end in .html"),
        "bad timeout": ([str(good), "--timeout", "0"], "--timeout"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "invalid JSON", "not a notebook", "invalid notebook",
                                  "unknown kernel", "no such directory", "-o is a directory", "unwritable -o",
                                  "-o not html", "bad timeout"])
def test_bad_input_is_one_line_exit_2_before_anything_boots(kij, tmp_path, case):
    tmp = sandboxed(kij, tmp_path)
    args, words = bad_inputs(tmp_path)[case]
    run = kij.run("export", *args, timeout=60)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and words in run.stderr and no_traceback(run.stderr), run.stderr
    assert run.stdout == ""
    assert list(tmp.iterdir()) == []  # no private directory was ever made: nothing booted
    assert not Path("/proc/kij-export.html").exists()


# --- the view -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return lesson.run(None, None, timeout=60)


def drawn(renderable, width: int) -> list[str]:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


def test_the_view_fits_80_columns_and_the_tour_gets_60_lines(result):
    full = drawn(view.render(result), 80)
    compact = drawn(view.render(result, compact=True), 80)
    assert max(map(len, full + compact)) <= 80
    assert len(compact) <= 60, len(compact)
    assert any("execute_request" in line for line in full)
    page = "\n".join(compact)
    for stage in ("1 · execute", "2 · export", "3 · write, then post-process"):
        assert stage in page
    assert "✗" not in page
    assert lesson.TAKEAWAY.split(":")[0] in page


def test_a_reused_msg_id_is_reported_only_when_the_trace_has_one(exported):
    cap = trace.load(exported["dir"] / "trace.jsonl")
    by_seq = {r.seq: r for r in cap.messages}
    for seq, kind, earlier, earlier_kind in exported["doc"]["execute"]["reused_msg_ids"]:
        assert by_seq[seq].msg_id == by_seq[earlier].msg_id and earlier < seq
        assert (by_seq[seq].msg_type, by_seq[earlier].msg_type) == (kind, earlier_kind)
    sent = [r.msg_id for r in cap.messages if r.direction == "to_kernel" and r.msg_id]
    assert len(exported["doc"]["execute"]["reused_msg_ids"]) == len(sent) - len(set(sent))
