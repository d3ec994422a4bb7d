"""The companion notebook: its committed form matches its builder, every cell runs
headless (nbclient), nbconvert exports it, and JupyterLab runs it in a real browser."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from conftest import KijRunner, Lab, chromium_path, processes_with, wait_until

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "notebooks"))
import build as builder  # noqa: E402  (notebooks/build.py: the notebook's source)

CHROMIUM = chromium_path()


def outputs_text(nb) -> str:
    """Every output of every code cell, as one string (text, results, HTML)."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for value in out.get("data", {}).values():
                parts.append(value if isinstance(value, str) else json.dumps(value))
            if out.get("output_type") == "error":
                parts.append(f"ERROR {out['ename']}: {out['evalue']}")
    return "\n".join(parts)


@dataclass
class Execution:
    nb: nbformat.NotebookNode
    ipython_dir: Path  # the IPYTHONDIR every kernel of the run had: a private one
    new_temp_dirs: list[Path]  # kij-px-* directories in the temp dir that were not there before
    survivors: list[str]  # processes carrying the run's marker, still alive after it


def px_profile_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("kij-px-*"))


@pytest.fixture(scope="module")
def execution(tmp_path_factory):
    """The notebook built from its source and executed headless, once for the module,
    with a private IPYTHONDIR; what it left behind, if anything."""
    marker = KijRunner(tmp_path_factory.mktemp("nb"))
    ipython_dir = tmp_path_factory.mktemp("ipython")
    nb = builder.build()
    before = px_profile_dirs()
    old = dict(os.environ)
    os.environ.update({"KIJ_TEST_MARK": marker.marker, "JUPYTER_RUNTIME_DIR": str(marker.runtime),
                       "IPYTHONDIR": str(ipython_dir)})
    try:
        builder.execute(nb, cwd=ROOT / "notebooks")
    finally:
        os.environ.clear()
        os.environ.update(old)
    survivors = processes_with(marker.marker)
    marker.assert_clean()  # the kernels, controller and engines the notebook's cells started are gone too
    return Execution(nb, ipython_dir, sorted(px_profile_dirs() - before), survivors)


@pytest.fixture(scope="module")
def executed(execution):
    return execution.nb


def cell_outputs(nb, source: str) -> str:
    """The outputs of the one code cell whose source is `source`, as one string."""
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source == source]
    assert len(cells) == 1, source
    return outputs_text(nbformat.v4.new_notebook(cells=cells))


def test_committed_notebook_matches_its_builder():
    committed = nbformat.read(builder.NOTEBOOK, as_version=4)
    built = builder.build()
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in built.cells]
    # its outputs are real ones from a run, not empty
    assert "84" in outputs_text(committed)


def test_every_cell_runs_headless(executed):
    errors = [out for c in executed.cells for out in c.get("outputs", []) if out.get("output_type") == "error"]
    assert errors == []
    text = outputs_text(executed)
    assert "84" in text
    assert "40" in text
    assert f"'{sys.executable}'" in text  # the kernel's interpreter is the project's
    assert "kernels 👏 hold 👏 state" in text
    assert "STATE PERSISTS ACROSS CELLS" in text
    assert "NameError: name 'secret' is not defined" in text
    assert "hello from a file that a cell magic wrote" in text
    assert "<IDS|MSG>" in text or "&lt;IDS|MSG&gt;" in text
    assert "2^10 = 1024" in text
    # the capture drawn inline by its _repr_html_, and one short line as text/plain
    assert '<iframe class="kij-view"' in text
    assert "<kij-frames capture: " in text


def test_px_runs_on_two_engines_that_are_kernels_then_stops_them(execution):
    nb = execution.nb
    hello = cell_outputs(nb, "%px import os, socket; print(socket.gethostname(), os.getpid())")
    engines = dict(re.findall(r"\[stdout:(\d)\] \S+ (\d+)", hello))
    assert sorted(engines) == ["0", "1"]  # two engines answered, each tagged with its id
    pids = {int(pid) for pid in engines.values()}
    kernel_pid = int(re.search(r"this kernel: \S+ (\d+)", outputs_text(nb)).group(1))
    assert len(pids) == 2 and kernel_pid not in pids  # two processes, neither the notebook's kernel
    classes = cell_outputs(nb, "%px type(get_ipython().kernel).__mro__[:2]")
    assert classes.count("(ipyparallel.engine.kernel.IPythonParallelKernel,\n ipykernel.ipkernel.IPythonKernel)") == 2
    assert "(ipykernel.ipkernel.IPythonKernel, ipykernel.kernelbase.Kernel)" in outputs_text(nb)
    mapped = [c for c in nb.cells if c.source.endswith("map_sync(square, range(6))")]
    result = ast.literal_eval(mapped[0].outputs[0]["data"]["text/plain"])  # [(square, pid), …]
    assert [square for square, _ in result] == [0, 1, 4, 9, 16, 25]
    assert {pid for _, pid in result} <= pids  # each item ran on one of the two engines
    stop = [c for c in nb.cells if c.cell_type == "code" and "stop_cluster_sync()" in c.source]
    stopped = outputs_text(nbformat.v4.new_notebook(cells=stop))
    running = ast.literal_eval(re.search(r"running: (\{.*\})", stopped).group(1))
    assert running["-m ipyparallel.engine"] == 2 and running["-m ipyparallel.engine.nanny"] == 2
    assert running["-m ipyparallel.controller"] >= 1
    assert "still running: []" in stopped  # what the kernel saw
    # and after the run: no engine, controller or scheduler (they carry the run's marker)
    assert not [p for p in execution.survivors if "ipengine" in p or "ipcontroller" in p or "ipyparallel" in p]
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    # nothing written: the profile directory is gone, and the private IPYTHONDIR holds no cluster file
    assert execution.new_temp_dirs == []
    written = [p.relative_to(execution.ipython_dir) for p in execution.ipython_dir.rglob("*") if p.is_file()]
    assert not [p for p in written if p.parts[1:2] in (("security",), ("log",), ("pid",))], written


def test_px_cluster_is_stopped_when_a_cell_fails_before_the_stop(tmp_path):
    """The section's claim: had a cell failed after the cluster started, ipyparallel
    stops it when the kernel shuts down (Cluster's shutdown_atexit)."""
    from nbclient.exceptions import CellExecutionError

    marker = KijRunner(tmp_path)
    nb = builder.build()
    start = next(i for i, c in enumerate(nb.cells) if "start_and_connect_sync()" in c.source)
    nb.cells = [nb.cells[start], nbformat.v4.new_code_cell("%px print('engines up')"),
                nbformat.v4.new_code_cell("raise RuntimeError('a cell fails')"), *nb.cells[start + 1:]]
    before = px_profile_dirs()
    old = dict(os.environ)
    os.environ.update({"KIJ_TEST_MARK": marker.marker, "JUPYTER_RUNTIME_DIR": str(marker.runtime),
                       "IPYTHONDIR": str(tmp_path / "ipython")})
    try:
        with pytest.raises(CellExecutionError, match="a cell fails"):
            builder.execute(nb, cwd=tmp_path)
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert "engines up" in outputs_text(nb)  # the cluster was running when the cell failed
    wait_until(lambda: not processes_with(marker.marker), timeout=60, what="the cluster's processes to exit")
    assert sorted(px_profile_dirs() - before) == []
    assert marker.connection_files() == []


def capture_messages_drawn(page) -> tuple[int, int]:
    """In a page holding the capture's inline diagram: the messages its data holds
    (body[data-total]) and the message elements drawn, once the renderer is ready and
    has drawn more than ten rows (the frame may be laid out after its page loads)."""
    frame = page.frame_locator("iframe.kij-view").first
    body = frame.locator("body[data-ready]")
    body.wait_for(timeout=60_000)
    frame.locator(".message").nth(10).wait_for(timeout=60_000)
    return int(body.get_attribute("data-total")), frame.locator(".message").count()


def test_nbconvert_exports_html(executed, tmp_path):
    source = tmp_path / "kij-companion.ipynb"
    nbformat.write(executed, source)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(source)],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    html = (tmp_path / "kij-companion.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "State lives in the kernel, not in the cells" in html
    assert "kernels 👏 hold 👏 state" in html
    assert "&lt;IDS|MSG&gt;" in html
    assert '<iframe class="kij-view"' in html


@pytest.mark.timeout(120)
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here")
def test_nbconvert_export_draws_the_capture_in_chromium(executed, tmp_path):
    """The exported page, opened from file://: the inline diagram runs and draws."""
    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM_ARGS

    source = tmp_path / "kij-companion.ipynb"
    nbformat.write(executed, source)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(source)],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((tmp_path / "kij-companion.html").as_uri(), wait_until="domcontentloaded")
            page.locator("iframe.kij-view").first.scroll_into_view_if_needed()
            total, drawn = capture_messages_drawn(page)
            assert total > 20 and 10 < drawn <= total  # the rows in the frame's sight
            page.screenshot(path=str(tmp_path / "nbconvert-view.png"))
            assert not [e for e in errors if "kij" in e.lower()]
        finally:
            browser.close()


@pytest.mark.timeout(300)
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here: .ci/run installs Debian's chromium; "
                    "where it cannot be installed this test cannot run")
def test_jupyterlab_runs_the_notebook_in_chromium(tmp_path):
    sandbox = KijRunner(tmp_path)
    root = tmp_path / "lab"
    root.mkdir()
    nbformat.write(builder.build(), root / "kij-companion.ipynb")  # no outputs: the browser makes them
    lab = Lab(tmp_path, root, sandbox.env)
    try:
        lab.wait_serving()
        with lab.page("kij-companion.ipynb", {"width": 1400, "height": 1000}) as page:
            # the status bar names the kernel once its session is up and idle
            page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=90_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            outputs = page.locator(".jp-OutputArea-output")
            for expected in ["84", "kernels 👏 hold 👏 state", "STATE PERSISTS ACROSS CELLS",
                             "<IDS|MSG>", "2^10 = 1024", "IPythonParallelKernel",
                             "still running: []"]:
                outputs.filter(has_text=expected).first.wait_for(timeout=180_000)
            page.locator(".jp-OutputArea-output iframe.kij-view").first.scroll_into_view_if_needed()
            total, drawn = capture_messages_drawn(page)  # the capture's _repr_html_, inline
            assert total > 20 and drawn > 10
            page.locator(".jp-OutputArea-output", has_text="2^10 = 1024").first.scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "jupyterlab.png"))
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                has_text="Traceback").count() == 0
        shot = tmp_path / "jupyterlab.png"
        assert shot.stat().st_size > 10_000
        if os.environ.get("KIJ_SCREENSHOT"):
            shutil.copy(shot, os.environ["KIJ_SCREENSHOT"])
    finally:
        lab.stop()
    wait_until(lambda: not processes_with(sandbox.marker), timeout=20, what="JupyterLab's kernels to exit")
    assert sandbox.connection_files() == []
