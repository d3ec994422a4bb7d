"""Draws `kij export`: nbconvert's three stages, each with what it did and what it changed.

`render(result)` returns a rich renderable and prints nothing. Stage 1's messages are
drawn with kij.views.frames' own `timeline` (the tap's trace is a kij-frames capture);
the rest are fact grids and a per-cell table of what the execute stage wrote. Every
number and verdict comes from the result; everything from the notebook or the wire is
rich Text, never markup. `compact` (kij tour) leaves out the message timeline.
"""

from __future__ import annotations

from rich.console import Group
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from kij.lessons.export import ExecuteStage, ExportResult, ExportStage, WriteStage
from kij.views import frames as frames_view
from kij.views.parts import CHECK, ByWidth, blank, fact_grid, heading, plain_table, takeaway


def _mark(ok: bool, text: str) -> Text:
    glyph, style = CHECK[ok]
    return Text.assemble((f"{glyph} ", f"bold {style}"), text)


def _rule(title: str) -> list:
    return [blank(), Rule(Text(title, style="bold"), align="left")]


def _tally(counts: dict) -> str:
    return " · ".join(f"{name} ×{n}" if n > 1 else name for name, n in counts.items()) or "nothing"


def _kb(n: int) -> str:
    return f"{n:,} bytes"


# --- stage 1 ------------------------------------------------------------------------------


def _wire_verdicts(stage: ExecuteStage) -> list:
    n = stage.code_cells
    if stage.one_per_code_cell:
        drawn = [_mark(True, f"one execute_request per code cell, in order: {n} for {n}, each carrying "
                             "its cell's source exactly")]
    elif stage.stopped_by:
        sent = len(stage.executed)
        drawn = [Text(f"– {sent} execute_request{'s' if sent != 1 else ''} for {n} code cells: nbconvert "
                      f"stopped there ({stage.stopped_by}); the cells after it were never sent")]
    else:
        drawn = [_mark(False, f"{len(stage.executed)} execute_requests for {n} code cells")]
    md = stage.markdown_cells
    if md:
        drawn.append(_mark(not stage.markdown_in_trace,
                           f"the text of the {md} markdown cell{'s' if md != 1 else ''} is nowhere in the trace"
                           if not stage.markdown_in_trace else
                           f"markdown text found in the trace (cells {stage.markdown_in_trace})"))
    if stage.sent.get("control shutdown_request"):
        words = "the kernel was shut down with a shutdown_request on control"
        if stage.interrupted_first:
            words += (" — and just before it, jupyter_client interrupted it with SIGINT: a signal, not a "
                      "message (the tap's log says so; a trace of messages cannot)")
        drawn.append(_mark(True, words))
    return drawn


def _cells(stage: ExecuteStage) -> Table:
    table = plain_table()
    for col in ("cell", "source", "count", "outputs"):
        table.add_column(col, style="dim" if col == "cell" else None, no_wrap=col != "outputs",
                         max_width=28 if col == "source" else None, overflow="ellipsis")
    for c in stage.cells:
        if c.cell_type != "code":
            table.add_row(f"{c.index} {c.cell_type}", Text(c.first_line, style="dim"), "", Text("not sent", style="dim"))
            continue
        before, after = c.execution_count
        outs = ", ".join(c.outputs[1]) or "none"
        table.add_row(f"{c.index} code", Text(c.first_line, style="cyan"),
                      f"{'—' if before is None else before} → {'—' if after is None else after}",
                      Text(f"{c.outputs[0]} → {outs}"))
    return table


def _metadata(stage: ExecuteStage) -> list:
    """The metadata the stage added: the notebook's, and the cells' (the same keys on each)."""
    cell_keys = sorted({k for c in stage.cells for k in c.metadata_added})
    bits = []
    if stage.notebook_metadata_added:
        bits.append(f"notebook metadata + {', '.join(stage.notebook_metadata_added)} (from the kernel_info_reply)")
    if cell_keys:
        n = sum(bool(c.metadata_added) for c in stage.cells)
        whose = f"{n} cells'" if n != 1 else "1 cell's"
        bits.append(f"{whose} metadata + {', '.join(cell_keys)} (nbclient's timestamps)")
    return [Text("; ".join(bits), style="dim")] if bits else []


def _execute(stage: ExecuteStage, compact: bool, width: int) -> list:
    drawn = _rule(f"1 · execute: {stage.preprocessor.rsplit('.', 1)[1]} ({stage.client})")
    drawn.append(Text(f"nbconvert boots the kernel itself — {stage.kernel}, so kij's tap records every "
                      "message between them — and runs the cells in order, as any frontend would.", style="dim"))
    records = [r for r in (stage.capture.messages if stage.capture else []) if r.channel != "hb"]
    if records and not compact:
        beats = len(stage.capture.messages) - len(records)
        drawn += [blank(), *frames_view.timeline(records, frames_view.message_ids(records), width, fold=True)]
        if beats:
            drawn.append(Text(f"(and {beats} heartbeat pings and echoes on hb, not shown)", style="dim"))
    back = (_tally(stage.received) if not compact else
            f"{sum(stage.received.values())} messages: replies, status, execute_input, outputs")
    drawn += [blank(), fact_grid([("sent", _tally(stage.sent)), ("came back", back)])]
    if stage.ready_probes:
        drawn.append(Text(f"kernel_info_request: {stage.ready_probes} from jupyter_client's wait_for_ready, which "
                          "asks again after each second without a reply while the kernel boots; then the "
                          "ExecutePreprocessor's own, whose language_info it copies into the notebook", style="dim"))
    for seq, kind, earlier, earlier_kind in ([] if compact else stage.reused_msg_ids):  # explains the timeline's ↳
        drawn.append(Text(f"#{seq} {kind} carries the same msg_id as #{earlier} {earlier_kind} (same session, "
                          f"same counter): replies to it point at #{earlier}", style="dim"))
    drawn += [blank(), *_wire_verdicts(stage)]
    drawn += [blank(), Text("what it wrote into the notebook (in memory; the file is only read):"), _cells(stage)]
    drawn += _metadata(stage)
    if stage.error:
        drawn += [blank(), Text("nbconvert's CellExecutionError, as it words it:", style="bold red"),
                  Text(stage.error.strip(), overflow="fold")]
    return drawn


# --- stages 2 and 3 -----------------------------------------------------------------------


def _export(stage: ExportStage, compact: bool) -> list:
    drawn = _rule(f"2 · export: HTMLExporter, template {stage.template_name}/{stage.template_file}")
    m = stage.markup
    rows = [] if compact else [
        ("template", stage.template_path or f"{stage.template_name}/{stage.template_file} (path not found)")]
    rows += [
        ("preprocessors", "the exporter's own, enabled ones, before its template: " + ", ".join(stage.preprocessors)),
        ("changed", f"notebook JSON {_kb(stage.notebook_bytes)} → HTML {_kb(stage.html_bytes)}, "
                    f"{_kb(m.get('style bytes', 0))} of it CSS in {m.get('style blocks', 0)} <style> blocks"),
        ("the markup", f"{m.get('code cells', 0)} code cells, {m.get('markdown cells', 0)} markdown cells "
                       f"(rendered to HTML), {m.get('outputs', 0)} outputs, {m.get('inline scripts', 0)} inline "
                       f"scripts, {m.get('external', 0)} fetched from the network"),
    ]
    return drawn + [fact_grid(rows)]


def _write(stage: WriteStage) -> list:
    drawn = _rule("3 · write, then post-process")
    where = stage.path if stage.kept else "kij's private temporary directory (no -o: removed at the end)"
    rows = [
        ("writer", f"{stage.writer.rsplit('.', 1)[1]} wrote {_kb(stage.bytes)} to {where}"),
        ("postprocessor", f"{stage.postprocessor} — kij's own, registered as nbconvert registers any, by "
                          f"dotted name in {stage.registered_as} (nbconvert's one, serve, starts a web server "
                          "and never returns)"),
        ("it found", "the page fetches " + (", ".join(_short_url(u) for u in stage.external)
                                             if stage.external else "nothing from the network")),
    ]
    drawn.append(fact_grid(rows))
    drawn.append(_mark(not stage.changed_by_postprocessor,
                       "a postprocessor gets only the written file's path; this one changed nothing in it "
                       "(same SHA-256 before and after)" if not stage.changed_by_postprocessor else
                       "the written file changed during the postprocessor"))
    return drawn


def _short_url(url: str) -> str:
    """host/…/file: enough to say where it comes from and what it is."""
    rest = url.split("://", 1)[-1]
    host, _, path = rest.partition("/")
    name = path.split("?", 1)[0].rsplit("/", 1)[-1]
    return f"{host}/…/{name}" if name else host


# --- the page -------------------------------------------------------------------------------

def _page(result: ExportResult, width: int, compact: bool) -> list:
    ex = result.execute
    drawn = [heading("kij export", "nbconvert's pipeline, one stage at a time")]
    if ex is not None:
        drawn.append(Text(f"{result.notebook} · {len(ex.cells)} cells: {ex.code_cells} code, "
                          f"{ex.markdown_cells} markdown · what `jupyter nbconvert --execute --to html` does, "
                          "stage by stage", overflow="fold"))
        drawn += _execute(ex, compact, width)
    if result.export is not None:
        drawn += _export(result.export, compact)
    if result.write is not None:
        drawn += _write(result.write)
    drawn += [blank(), _mark(result.notebook_unchanged,
                             "the notebook file is unchanged: same bytes, same mtime" if result.notebook_unchanged
                             else "the notebook file changed while kij ran (not by kij: it only reads it)")]
    if result.takeaway:
        drawn.append(takeaway(result.takeaway))
    return drawn


def render(result: ExportResult, compact: bool = False) -> ByWidth:
    """The whole lesson; `compact` (kij tour) leaves out stage 1's message timeline."""
    return ByWidth(lambda width: Group(*_page(result, width, compact)))


def render_compact(result: ExportResult) -> ByWidth:
    return render(result, compact=True)
