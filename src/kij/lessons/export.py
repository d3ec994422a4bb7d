"""`kij export NOTEBOOK` — nbconvert's pipeline, one stage at a time, on a real notebook.

What the learner should feel: nbconvert is just another frontend. `jupyter nbconvert
--execute --to html` is a chain of plain steps, and kij runs nbconvert's own objects
for each one, in the order nbconvert does, and says what each changed:

1. **execute** — nbconvert's ExecutePreprocessor (nbclient underneath) boots a kernel,
   sends kernel_info_request, one execute_request per *code* cell, and a shutdown_request,
   and writes what came back (outputs, execution_count) into the notebook. Its kernel is
   `kij-tap` wrapping the notebook's own kernel, so every message is recorded by kij's
   tap (kij.tap) — the markdown cells never travel. kij diffs the notebook before and after.
2. **export** — the HTMLExporter runs its own enabled preprocessors and renders its
   template (lab/index.html.j2): notebook JSON in, one HTML page out.
3. **write, then post-process** — nbconvert's FilesWriter writes the page, and a
   postprocessor is handed the written file's path. nbconvert ships one postprocessor,
   `serve`, which starts a web server and never returns, so kij uses a tiny one of its
   own, `ExternalResources`, registered the way nbconvert registers any: by dotted
   name, through NbConvertApp.postprocessor_class (`jupyter nbconvert --post
   kij.lessons.export.ExternalResources` runs it too). It reads the page and lists what
   it would fetch from the network; it changes nothing, and kij checks that.

The notebook file is only ever read. Without -o the page is written into kij's private
temporary directory (with the tap's trace and connection files) and removed with it.
kij never boots a kernel itself here: nbclient does, as it does for nbconvert, through
the kij-tap kernelspec; kij launches it with a private JUPYTER_RUNTIME_DIR and its
output in a log file (the one thing kij's subclass of ExecutePreprocessor changes).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import hashlib
import html.parser
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from nbconvert.postprocessors import PostProcessorBase

from kij import trace
from kij.errors import KernelDied, KernelFault, KernelTimeout, KijError, UserError
from kij.kernel import ms_since, timed
from kij.trace import Capture

TAP_KERNEL = "kij-tap"
DEFAULT_KERNEL = "python3"  # what nbclient boots for a notebook that names no kernelspec
POSTPROCESSOR = "kij.lessons.export.ExternalResources"
DEMO = Path(__file__).resolve().parents[3] / "demos" / "export" / "tiny.ipynb"

TAKEAWAY = (
    "nbconvert is just another frontend: its ExecutePreprocessor sent kernel_info, one "
    "execute_request per code cell and a shutdown, never the markdown; the exporter's template "
    "turned the executed notebook into HTML, and a postprocessor only gets the written file."
)


# --- what each stage did ------------------------------------------------------------


@dataclass
class CellChange:
    """One cell before and after the execute stage."""

    index: int
    cell_type: str  # code | markdown | raw
    first_line: str
    sent: bool  # its source is the code of an execute_request in the trace
    execution_count: tuple  # (before, after)
    outputs: tuple  # (how many before, the output types after: "stream stdout", "execute_result text/plain")
    metadata_added: list[str] = field(default_factory=list)  # cell metadata keys the stage added


@dataclass
class ExecuteStage:
    """Stage 1: the ExecutePreprocessor, its wire (the tap's trace) and what it wrote."""

    preprocessor: str
    client: str  # nbclient and its version
    kernel: str  # the notebook's kernel, as wrapped by the tap
    capture: Capture | None = None  # the tap's trace, kij-frames/1
    sent: dict = field(default_factory=dict)  # "shell execute_request" → how many (to the kernel)
    received: dict = field(default_factory=dict)  # from the kernel
    executed: list[str] = field(default_factory=list)  # the code of each execute_request, in order
    one_per_code_cell: bool = False  # executed == the code cells' sources, in the notebook's order
    reused_msg_ids: list[list] = field(default_factory=list)  # [seq, msg_type, earlier seq, its msg_type]: one msg_id sent twice
    ready_probes: int = 0  # kernel_info_requests before the preprocessor's own (the last before any execute)
    code_cells: int = 0
    markdown_cells: int = 0
    markdown_in_trace: list[int] = field(default_factory=list)  # markdown cells whose text is in the trace
    cells: list[CellChange] = field(default_factory=list)
    notebook_metadata_added: list[str] = field(default_factory=list)
    interrupted_first: bool = False  # the tap's log: SIGINT came before the shutdown (jupyter_client does that)
    error: str | None = None  # CellExecutionError as nbconvert words it (no colour codes)
    stopped_by: str | None = None  # the nbclient exception that ended the stage early, if one did
    elapsed_ms: float = 0.0


@dataclass
class ExportStage:
    """Stage 2: the HTMLExporter and its template."""

    exporter: str
    template_name: str
    template_file: str
    template_path: str | None  # where the template file was found
    preprocessors: list[str] = field(default_factory=list)  # the exporter's enabled preprocessors, in order
    notebook_bytes: int = 0  # the executed notebook as JSON
    html_bytes: int = 0
    markup: dict = field(default_factory=dict)  # what the page contains, counted
    elapsed_ms: float = 0.0


@dataclass
class WriteStage:
    """Stage 3: nbconvert's FilesWriter, then the postprocessor on the written file."""

    writer: str
    path: str
    kept: bool  # False: written into kij's temporary directory and removed (no -o)
    bytes: int = 0
    postprocessor: str = POSTPROCESSOR
    registered_as: str = "NbConvertApp.postprocessor_class"
    external: list[str] = field(default_factory=list)  # what the page fetches from the network
    changed_by_postprocessor: bool = False
    elapsed_ms: float = 0.0


@dataclass
class ExportResult:
    notebook: str
    notebook_unchanged: bool = True  # bytes and mtime, after every stage
    execute: ExecuteStage | None = None
    export: ExportStage | None = None
    write: WriteStage | None = None
    takeaway: str = TAKEAWAY
    elapsed_ms: float = 0.0


class CellFailed(KernelFault):
    """A cell raised: nbconvert stops with CellExecutionError (and exits 1), so does kij."""


# --- the input, refused before anything boots ------------------------------------------


def read_notebook(path: str):
    """The notebook as nbformat reads it (version 4), or a UserError in one line."""
    import nbformat

    p = Path(path)
    if not p.exists():
        raise UserError(f"no such notebook: {p}")
    if p.is_dir():
        raise UserError(f"{p} is a directory, not a notebook")
    try:
        text = p.read_text(encoding="utf-8")
        doc = json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {p}: {getattr(exc, 'strerror', None) or exc.__class__.__name__}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{p} is not valid JSON (line {exc.lineno}: {exc.msg}), so not a notebook") from None
    if not isinstance(doc, dict) or "nbformat" not in doc or "cells" not in doc and "worksheets" not in doc:
        raise UserError(f"{p} is JSON but not a notebook (no nbformat and cells)")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 — nbformat's errors have many classes; all mean "not valid"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise UserError(f"{p} is not a valid notebook: {first}") from None
    return nb


def kernel_of(nb) -> str:
    """The kernel the notebook asks for (its kernelspec name), checked to be installed."""
    from kij.kernel import check_kernel_names

    name = (nb.metadata.get("kernelspec") or {}).get("name") or DEFAULT_KERNEL
    if name.startswith(TAP_KERNEL):
        raise UserError(f"the notebook's kernel is already a tap ({name}); kij export puts {TAP_KERNEL} in front itself")
    check_kernel_names([name, TAP_KERNEL])
    return name


def check_output(output: str | None) -> None:
    if output is None:
        return
    p = Path(output)
    if p.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"-o names the HTML file to write: {p} does not end in .html")
    trace.check_writable(p)
    existed = p.exists()
    try:
        with open(p, "a"):  # the one sure test (permissions, read-only mounts, /proc); no bytes written
            pass
    except OSError as exc:
        raise UserError(f"cannot write {p}: {exc.strerror or exc.__class__.__name__}") from None
    if not existed:
        p.unlink()


def check_flags(notebook: str, output: str | None, save: str | None) -> None:
    """kij export's input, refused before any kernel boots: the notebook must be one, its
    kernel installed, -o an .html file kij can write, --save writable and neither the notebook."""
    nb = read_notebook(notebook)
    kernel_of(nb)
    check_output(output)
    if save:
        trace.check_writable(save)
    for name, value in (("-o", output), ("--save", save)):
        if value and Path(value).resolve() == Path(notebook).resolve():
            raise UserError(f"{name} names the notebook itself; kij export never writes the notebook")


# --- nbconvert's objects, the two that kij registers -----------------------------------


def tapped_preprocessor(private: Path, log, kernel: str, timeout: float):
    """nbconvert's ExecutePreprocessor, its kernel the kij-tap kernelspec in front of `kernel`.

    The subclass changes how the kernel *process* is launched, nothing else: a private
    JUPYTER_RUNTIME_DIR (where the tap writes its trace) and its output to a log file.
    `extra_arguments` is nbclient's own trait: added to the kernelspec's argv, it tells
    the tap which kernel to put behind it."""
    from jupyter_core.utils import run_sync
    from nbconvert.preprocessors import ExecutePreprocessor

    class TappedExecutePreprocessor(ExecutePreprocessor):
        def create_kernel_manager(self):
            km = super().create_kernel_manager()
            km.connection_file = str(private / f"kernel-{uuid.uuid4()}.json")
            return km

        async def async_start_new_kernel(self, **kwargs):
            kwargs.update(env={**os.environ, "JUPYTER_RUNTIME_DIR": str(private)}, stdout=log, stderr=log)
            await super().async_start_new_kernel(**kwargs)

        start_new_kernel = run_sync(async_start_new_kernel)  # nbclient binds the sync name at class creation

        def _cleanup_kernel(self):  # nbclient's own, when a cell ends or a signal unwinds it
            _settle_tasks()
            super()._cleanup_kernel()

    return TappedExecutePreprocessor(kernel_name=TAP_KERNEL, extra_arguments=["--kernel", kernel],
                                     timeout=max(1, round(timeout)))


class ExternalResources(PostProcessorBase):
    """A postprocessor (nbconvert's base class): handed the written file's path, it
    reads the page and notes every script and stylesheet it would fetch from the network.
    It changes nothing."""

    def postprocess(self, input):  # noqa: A002 — nbconvert's name for the written file
        finder = _Markup()
        finder.feed(Path(input).read_text(encoding="utf-8"))
        self.found = finder.external


class _Markup(html.parser.HTMLParser):
    """Counts what an nbconvert page contains: cells, outputs, styles, scripts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.count = {"code cells": 0, "markdown cells": 0, "outputs": 0, "style blocks": 0, "inline scripts": 0}
        self.style_bytes = 0
        self.external: list[str] = []
        self._in = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        for css, name in (("jp-CodeCell", "code cells"), ("jp-MarkdownCell", "markdown cells"),
                          ("jp-OutputArea-output", "outputs")):
            self.count[name] += css in classes
        url = a.get("src") if tag == "script" else a.get("href") if tag == "link" else None
        if url and url.startswith(("http://", "https://", "//")):
            self.external.append(url)
        elif tag == "script":
            self.count["inline scripts"] += 1
        if tag == "style":
            self.count["style blocks"] += 1
        self._in = tag

    def handle_data(self, data):
        if self._in == "style":
            self.style_bytes += len(data.encode("utf-8"))

    def handle_endtag(self, tag):
        self._in = None


def postprocessor_from_registry():
    """The postprocessor NbConvertApp builds from its postprocessor_class trait, as
    `jupyter nbconvert --post NAME` does (its own import_item on the dotted name)."""
    from nbconvert.nbconvertapp import NbConvertApp

    app = NbConvertApp(postprocessor_class=POSTPROCESSOR)
    app.init_postprocessor()
    return app


# --- stage 1: execute ---------------------------------------------------------------


def notebook_resources(path: Path) -> dict:
    """The resources nbconvert gives a notebook it converts (NbConvertApp, then
    Exporter.from_filename): its name, its directory (the kernel's cwd), its mtime."""
    from nbconvert.exporters.exporter import ResourcesDict
    from nbconvert.nbconvertapp import NbConvertApp

    resources = ResourcesDict()
    resources.update(NbConvertApp().init_single_notebook_resources(str(path)))
    directory, basename = os.path.split(str(path))
    modified = datetime.datetime.fromtimestamp(os.path.getmtime(path), tz=datetime.timezone.utc)
    resources["metadata"] = ResourcesDict()
    resources["metadata"].update(name=os.path.splitext(basename)[0], path=directory,
                                 modified_date=modified.strftime("%B %-d, %Y"))  # as Exporter.from_filename
    return resources


def execute(nb, resources: dict, kernel: str, private: Path, timeout: float) -> ExecuteStage:
    """Run nbconvert's ExecutePreprocessor on nb (in place) through the tap; read the trace."""
    import nbclient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    t0 = _now()
    stage = ExecuteStage(preprocessor="nbconvert.preprocessors.ExecutePreprocessor",
                         client=f"nbclient {nbclient.__version__}", kernel=f"{TAP_KERNEL} → {kernel}")
    before = copy.deepcopy(nb)
    log_path = private / "kernel.log"
    failure: KijError | None = None
    with open(log_path, "w") as log:
        ep = tapped_preprocessor(private, log, kernel, timeout)
        try:
            ep.preprocess(nb, resources)
        except (CellExecutionError, CellTimeoutError, DeadKernelError, RuntimeError) as exc:
            stage.stopped_by = exc.__class__.__name__  # RuntimeError: "Kernel didn't respond in 60 seconds", …
            stage.error = _plain(str(exc)) if isinstance(exc, CellExecutionError) else None
            failure = _failure(exc, kernel, timeout, log_path)
        finally:
            _settle_tasks()
            _stop_leftover(ep)
    stage.capture = _trace(private)
    describe_execution(stage, before, nb, log_path.read_text(errors="replace"))
    stage.elapsed_ms = ms_since(t0)
    if failure is not None:
        failure.stage = stage
        raise failure
    return stage


def _failure(exc: Exception, kernel: str, timeout: float, log_path: Path) -> KijError:
    """nbclient's exception as kij's: the one line the CLI prints, and the exit code (1).
    When the kernel never answered or died, the line ends with the kernel's log (the
    tap's and the real kernel's output): the only witness of why."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from kij.kernel import log_tail

    if isinstance(exc, CellExecutionError):
        return CellFailed(f"a cell raised {exc.ename}: {_first_line(exc.evalue)} — nbconvert stops "
                          f"(CellExecutionError), as `jupyter nbconvert --execute` does; no HTML written")
    if isinstance(exc, CellTimeoutError):
        return KernelTimeout(f"a cell ran longer than --timeout {timeout:g} s; nbconvert stopped "
                             "(CellTimeoutError) and shut its kernel down")
    if isinstance(exc, DeadKernelError):
        return KernelDied(f"the {kernel} kernel died while nbconvert executed the notebook; nbconvert "
                          f"stopped (DeadKernelError){log_tail(log_path.read_text(errors='replace'))}")
    return KernelFault(f"nbconvert could not run the notebook: {_first_line(str(exc))}"
                       f"{log_tail(log_path.read_text(errors='replace'))}")


def _settle_tasks() -> None:
    """nbclient runs each cell as tasks on this thread's event loop (jupyter_core's
    run_sync). A signal that strikes inside the loop leaves them pending; run again by
    the next call on that loop (nbclient's own kernel cleanup, as the signal unwinds
    its setup_kernel), the cell's task ends in DeadKernelError that nobody reads, and
    asyncio prints "Task exception was never retrieved" after kij's last line. They
    are cancelled and awaited here, before anything else runs on that loop."""
    import asyncio

    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop()
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _stop_leftover(ep) -> None:
    """nbclient shuts its kernel down on every path it knows; if a kernel is still up (a
    signal struck while it booted), kij ends it — the tap then ends the real kernel."""
    from jupyter_core.utils import run_sync

    km = getattr(ep, "km", None)
    with contextlib.suppress(Exception):
        if km is not None and km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    with contextlib.suppress(Exception):
        if km is not None:
            run_sync(km.cleanup_resources)()


def _trace(private: Path) -> Capture | None:
    found = sorted((private / "kij-tap").glob("*.jsonl"))
    return trace.load(found[0]) if found else None


def describe_execution(stage: ExecuteStage, before, after, tap_log: str) -> None:
    """What the wire carried and what the stage wrote into the notebook."""
    records = stage.capture.messages if stage.capture else []
    for rec in records:
        if rec.msg_type:
            tally = stage.sent if rec.direction == "to_kernel" else stage.received
            key = f"{rec.channel} {rec.msg_type}"
            tally[key] = tally.get(key, 0) + 1
    stage.executed = [rec.content.get("code", "") for rec in records
                      if rec.msg_type == "execute_request" and rec.direction == "to_kernel" and rec.content]
    asked = [r for r in records if r.direction == "to_kernel" and r.msg_type in ("kernel_info_request", "execute_request")]
    first_execute = next((i for i, r in enumerate(asked) if r.msg_type == "execute_request"), len(asked))
    stage.ready_probes = max(0, first_execute - 1)  # the last one before the first execute_request: the preprocessor's
    stage.reused_msg_ids = _reused(records)
    stage.one_per_code_cell = stage.executed == [c.source for c in before.cells if c.cell_type == "code"]
    wire_text = "\n".join(f.text or "" for rec in records for f in rec.frames)
    stage.code_cells = sum(c.cell_type == "code" for c in before.cells)
    stage.markdown_cells = sum(c.cell_type == "markdown" for c in before.cells)
    stage.markdown_in_trace = [i for i, c in enumerate(before.cells)
                               if c.cell_type == "markdown" and c.source.strip()
                               and json.dumps(c.source.strip())[1:-1] in wire_text]
    stage.cells = [_cell_change(i, b, a, stage.executed) for i, (b, a) in enumerate(zip(before.cells, after.cells))]
    stage.notebook_metadata_added = sorted(set(after.metadata) - set(before.metadata))
    stage.interrupted_first = "[kij tap] interrupt" in tap_log


def _reused(records) -> list[list]:
    """Requests that carry the msg_id of an earlier request (seen: jupyter_client's manager
    sends its shutdown_request with the msg_id of the client's first kernel_info_request)."""
    first: dict = {}
    found = []
    for rec in records:
        if rec.direction != "to_kernel" or not rec.msg_id:
            continue
        if rec.msg_id in first:
            found.append([rec.seq, rec.msg_type, first[rec.msg_id].seq, first[rec.msg_id].msg_type])
        else:
            first[rec.msg_id] = rec
    return found


def _cell_change(index: int, before, after, executed: list[str]) -> CellChange:
    outputs = [_output_type(o) for o in after.get("outputs", [])]
    return CellChange(
        index=index, cell_type=before.cell_type, first_line=_first_line(before.source),
        sent=before.cell_type == "code" and before.source in executed,
        execution_count=(before.get("execution_count"), after.get("execution_count")),
        outputs=(len(before.get("outputs", [])), outputs),
        metadata_added=sorted(set(after.metadata) - set(before.metadata)),
    )


def _output_type(output) -> str:
    if output.output_type == "stream":
        return f"stream {output.name}"
    if output.output_type == "error":
        return f"error {output.ename}"
    data = output.get("data", {})
    rich = [m for m in data if m != "text/plain"]
    return f"{output.output_type} {rich[0] if rich else 'text/plain'}"


# --- stage 2: export ----------------------------------------------------------------------


def export(nb, resources: dict) -> tuple[ExportStage, str, dict]:
    """The HTMLExporter on the executed notebook: its preprocessors, then its template."""
    import nbformat
    from nbconvert import HTMLExporter

    t0 = _now()
    exporter = HTMLExporter()
    body, out_resources = exporter.from_notebook_node(nb, resources=resources)
    stage = ExportStage(
        exporter="nbconvert.exporters.HTMLExporter", template_name=exporter.template_name,
        template_file=exporter.template_file, template_path=_template_path(exporter),
        preprocessors=[type(p).__name__ for p in exporter._preprocessors if p.enabled],
        notebook_bytes=len(nbformat.writes(nb).encode("utf-8")), html_bytes=len(body.encode("utf-8")),
    )
    markup = _Markup()
    markup.feed(body)
    stage.markup = {**markup.count, "style bytes": markup.style_bytes, "external": len(markup.external)}
    stage.elapsed_ms = ms_since(t0)
    return stage, body, out_resources


def _template_path(exporter) -> str | None:
    for directory in exporter.template_paths:
        candidate = Path(directory) / exporter.template_file
        if candidate.is_file():
            return str(candidate)
    return None


# --- stage 3: write, then post-process -------------------------------------------------------


def write(body: str, resources: dict, output: str | None, private: Path) -> WriteStage:
    """nbconvert's FilesWriter writes the page (to -o, else into the private directory);
    then the postprocessor NbConvertApp registered gets the written file's path."""
    from nbconvert.writers import FilesWriter

    t0 = _now()
    target = Path(output) if output else private / "out" / "notebook.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    writer = FilesWriter(build_directory=str(target.parent))
    try:
        written = writer.write(body, {**resources, "output_extension": target.suffix}, notebook_name=target.stem)
    except OSError as exc:  # checked before the kernel booted; the disk may have changed its mind since
        raise UserError(f"cannot write {target}: {exc.strerror or exc.__class__.__name__}") from None
    stage = WriteStage(writer="nbconvert.writers.FilesWriter", path=str(output or written), kept=output is not None)
    digest = _sha256(written)
    app = postprocessor_from_registry()
    app.postprocess_single_notebook(written)  # NbConvertApp's own call: postprocessor(write_results)
    stage.postprocessor = f"{type(app.postprocessor).__module__}.{type(app.postprocessor).__name__}"
    stage.external = list(getattr(app.postprocessor, "found", []))
    stage.changed_by_postprocessor = _sha256(written) != digest
    stage.bytes = Path(written).stat().st_size
    stage.elapsed_ms = ms_since(t0)
    return stage


# --- the lesson -------------------------------------------------------------------------------


@timed
def run(notebook: str | None = None, output: str | None = None, timeout: float = 30.0) -> ExportResult:
    """The three stages on NOTEBOOK (default: demos/export/tiny.ipynb). A failure in
    stage 1 carries what it saw (`.result`, shown before the error line)."""
    path = Path(notebook) if notebook else DEMO
    nb = read_notebook(str(path))
    kernel = kernel_of(nb)
    if output:
        check_output(output)
    fingerprint = _fingerprint(path)
    result = ExportResult(notebook=str(path))
    private = Path(tempfile.mkdtemp(prefix="kij-export-"))
    try:
        resources = notebook_resources(path)
        try:
            result.execute = execute(nb, resources, kernel, private, timeout)
        except KijError as exc:
            result.execute = getattr(exc, "stage", None)
            result.notebook_unchanged = _fingerprint(path) == fingerprint
            result.takeaway = ""
            exc.capture = result  # what app.shown_if_it_fails draws (with this view) before the error line
            raise
        result.export, body, out_resources = export(nb, resources)
        result.write = write(body, out_resources, output, private)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    result.notebook_unchanged = _fingerprint(path) == fingerprint
    return result


def save(result: ExportResult, path: str) -> None:
    """--save FILE: the tap's trace of stage 1, kij-frames/1 (`kij frames --load FILE`)."""
    if result.execute is not None and result.execute.capture is not None:
        trace.save(result.execute.capture, path)


# --- small helpers ----------------------------------------------------------------------------


def _now() -> float:
    import time

    return time.monotonic()


def _fingerprint(path: Path) -> tuple:
    st = path.stat()
    return _sha256(path), st.st_mtime_ns, st.st_size


def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _first_line(text: str) -> str:
    text = (text or "").strip()
    return text.splitlines()[0] if text else ""


def _plain(text: str) -> str:
    """nbconvert's error text without the kernel's colour codes."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)
