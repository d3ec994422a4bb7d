"""Draws `kij kernels`: three kernels, how each was found and launched, what each wrote
itself — and, job by job, who does the messaging for a wrapper and for the native kernel.

`render(result)` returns a rich renderable and prints nothing. Long paths and command
lines break after a `/` or at a space, never inside a name, so they read at 60 columns.
"""

from __future__ import annotations

import os
import re

from rich.console import Group
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from kij.lessons.kernels import KernelFacts, KernelsResult, Place, Responsibility
from kij.views.parts import fact_grid, heading, takeaway

LABEL = "dim"


class Breakable:
    """Text that wraps at spaces and, inside an over-long token such as a path, after a
    `/` — never in the middle of a name (rich alone would cut a path anywhere)."""

    def __init__(self, text: str, style: str = ""):
        self.text, self.style = text, style

    def pieces(self) -> list[tuple[str, str]]:
        """(joiner, piece): a space between words, nothing between a path's parts."""
        out = []
        for i, word in enumerate(self.text.split(" ")):
            parts = re.findall(r"[^/]*/|[^/]+", word) or [word]
            out += [(" " if i and j == 0 else "", part) for j, part in enumerate(parts)]
        return out

    def lines(self, width: int) -> list[str]:
        lines = [""]
        for joiner, piece in self.pieces():
            if lines[-1] and len(lines[-1]) + len(joiner) + len(piece) > width:
                lines.append(piece)
            else:
                lines[-1] += (joiner if lines[-1] else "") + piece
        return lines

    def __rich_console__(self, console, options):
        yield Text("\n".join(self.lines(options.max_width)), style=self.style, overflow="fold")

    def __rich_measure__(self, console, options):
        longest = max((len(p) for _, p in self.pieces()), default=0)
        return Measurement(min(longest, options.max_width), min(len(self.text), options.max_width))


def short(path: str) -> str:
    """A path with the home directory as ~ (what a learner would type)."""
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home != "/" and path.startswith(home + "/") else path


def _nth(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _lines(n: int) -> str:
    return f"{n} line{'s' if n != 1 else ''}"


def _member_list(members) -> str:
    return ", ".join(f"{m.name} ({m.lines})" if m.lines else m.name for m in members)


def kernel_block(k: KernelFacts, result: KernelsResult):
    """One kernel: where its kernel.json was found, how it was launched, what it said."""
    a, spec, src = k.answer, k.spec, k.source
    kind = src.kind or "?"
    title = Text(k.name, style="bold")
    title.append(f" · {kind}" if src.kind else "")
    title.append(f" · PID {a.pid}" if a.pid else "")
    grid = fact_grid([], key_style=LABEL, fold=False)
    if a.skipped:
        grid.add_row("skipped", Text(a.skipped, style="yellow"))
        return Group(title, Padding(grid, (0, 0, 0, 2)))
    if a.error and a.language is None:
        grid.add_row("failed", Text(a.error, style="red"))
        return Group(title, Padding(grid, (0, 0, 0, 2)))
    if spec.resource_dir:
        where = spec.kernel_dirs.index(os.path.dirname(spec.resource_dir)) + 1 \
            if os.path.dirname(spec.resource_dir) in spec.kernel_dirs else None
        found = f"{short(spec.resource_dir)}/kernel.json"
        grid.add_row("kernel.json", Breakable(found))
        if where:
            grid.add_row("", Text(f"(the {_nth(where)} of the {len(spec.kernel_dirs)} kernel directories "
                                  "Jupyter searches, in order)", style=LABEL))
        grid.add_row("its argv", Breakable(" ".join(spec.argv), style="cyan"))
        grid.add_row("ran as", Breakable(" ".join(short(p) for p in spec.real_argv)))
        if spec.substituted:
            grid.add_row("", Text(f"argv[{spec.placeholder_at}] {{connection_file}} became the file "
                                  "jupyter_client wrote" + (" (there while it ran)" if spec.connection_file_existed
                                                            else ""), style="green"))
        elif spec.placeholder_at is not None:
            grid.add_row("", Text("{connection_file} was not found in the running command line",
                                  style="yellow"))
    grid.add_row("kernel_info", f"{a.implementation} {a.implementation_version or ''}".strip()
                 + f" · language {a.language} · protocol {a.protocol_version}")
    if a.snippet:
        grid.add_row("cell", Text(a.snippet, style="cyan"))
        grid.add_row("got", Text(a.output or "", style="bold"))
    if a.error:
        grid.add_row("error", Text(a.error, style="red"))
    _source_rows(grid, k, result)
    return Group(title, Padding(grid, (0, 0, 0, 2)))


def _source_rows(grid: Table, k: KernelFacts, result: KernelsResult) -> None:
    src = k.source
    if not src.kind:
        return
    imports = ", ".join(src.third_party) or "nothing"
    name = os.path.basename(src.file)
    if src.kind == "wrapper":
        grid.add_row("source", f"class {src.kernel_class}(ipykernel Kernel): {_lines(src.class_lines)} "
                               f"in {name} ({src.module}); imports {imports} beyond the standard library")
        overrides = src.overrides
        grid.add_row("overrides", f"{len(overrides)}: {_member_list(overrides)}")
        added = [m for m in src.members if not m.overrides and m.kind != "attribute"]
        if added:
            grid.add_row("adds", _member_list(added))
        attrs = [m.name for m in src.members if m.kind == "attribute"]
        if attrs:
            grid.add_row("sets", ", ".join(attrs))
        inherited = _inherited(k, result)
        earlier = [w for w in result.kernels[:result.kernels.index(k)] if w.source.kind == "wrapper"]
        if earlier and _inherited(earlier[-1], result) == inherited:
            grid.add_row("inherits", f"the same {len(inherited)} request handlers as {earlier[-1].name}, "
                                     "and the rest of ipykernel's Kernel")
        else:
            grid.add_row("inherits", f"{len(inherited)} request handlers and the rest of ipykernel's Kernel "
                                     f"({_lines(result.base_class_lines)}): {', '.join(inherited)}")
    else:
        grid.add_row("source", f"{name} ({src.module}): {_lines(src.file_lines)}, no ipykernel class; "
                               f"imports {imports} beyond the standard library")
    if k.children:
        grid.add_row("children", Breakable("; ".join(short(c) for c in k.children)))


def _inherited(k: KernelFacts, result: KernelsResult) -> list[str]:
    """The base's request handlers a wrapper does not define itself."""
    mine = {m.name for m in k.source.members}
    return [h for h in result.base_handlers if h not in mine]


def _places(places: list[Place], native: bool) -> str:
    """`module: function a–b, …` (the module only for ipykernel's side), then the total."""
    if not places:
        return "(none found)"
    total = sum(p.lines for p in places)
    by_module: dict[str, list[str]] = {}
    for p in places:
        by_module.setdefault(p.module, []).append(f"{p.qualname} {p.start}–{p.end}")
    if native:
        text = ", ".join(part for parts in by_module.values() for part in parts)
    else:
        text = "; ".join(f"{module}: {', '.join(parts)}" for module, parts in by_module.items())
    text += f" — {_lines(total)}"
    sections = list(dict.fromkeys(p.section for p in places if p.section))
    if native and sections:
        text += " in § " + "; ".join(sections)
    return text


def _filled(job: Responsibility) -> str | None:
    """Which wrapper writes the hook that ipykernel's code hands this job's work to."""
    if not job.hooks or not job.filled_in:
        return None
    writers = [name for name, hooks in job.filled_in.items() if hooks]
    others = [name for name, hooks in job.filled_in.items() if not hooks]
    said = []
    if writers:
        said.append(f"{' and '.join(writers)} {'overrides' if len(writers) == 1 else 'override'} it")
    if others:
        said.append(f"{' and '.join(others)} {'does' if len(others) == 1 else 'do'} not "
                    "(the base's own answers)")
    return f"calls {', '.join(job.hooks)}: " + "; ".join(said)


def jobs_block(result: KernelsResult):
    """Job by job: ipykernel's code (what every wrapper inherits) beside native.py's."""
    wrappers = [k.name for k in result.kernels if k.source.kind == "wrapper"]
    natives = [k.name for k in result.kernels if k.source.kind == "native"]
    title = Text("Who does each job", style="bold")
    title.append(f" — for {', '.join(wrappers) or 'a wrapper'}: ipykernel (and jupyter_client's Session); "
                 f"for {', '.join(natives) or 'the native kernel'}: native.py itself", style="")
    rows = [title]
    for job in result.responsibilities:
        grid = fact_grid([], key_style=LABEL, fold=False)
        grid.add_row("inherited", _places(job.ipykernel, native=False))
        filled = _filled(job)
        if filled:
            grid.add_row("", Text(filled, style=LABEL))
        grid.add_row("native.py", _places(job.native, native=True))
        head = Text(job.name, style="bold cyan")
        head.append(f" — {job.what}")
        rows.append(Padding(Group(head, Padding(grid, (0, 0, 0, 2))), (1, 0, 0, 0)))
    return Group(*rows)


def sections_block(result: KernelsResult):
    """native.py top to bottom: each marked section and its line count, adding up."""
    table = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
    table.add_column("native.py section", ratio=1)
    table.add_column("lines", justify="right", no_wrap=True)
    table.add_column("", justify="right", no_wrap=True)
    for s in result.native_sections:
        table.add_row(s.title, f"{s.start}–{s.end}", str(s.lines))
    total = sum(s.lines for s in result.native_sections)
    table.add_row(Text("total", style="bold"), "", Text(str(total), style="bold"))
    note = (f"{total} = the {result.native_lines} lines of {short(result.native_file)}"
            if total == result.native_lines else
            f"the sections add up to {total}, the file has {result.native_lines} lines")
    return Group(table, Breakable(note, style=LABEL))


def _same_keys(result: KernelsResult) -> str | None:
    """Whether every kernel's kernel_info_reply had the same keys, and which."""
    replies = {k.name: k.kernel_info_keys for k in result.kernels if k.kernel_info_keys}
    if len(replies) < 2:
        return None
    first = next(iter(replies.values()))
    if all(keys == first for keys in replies.values()):
        return (f"kernel_info_reply: the same {len(first)} keys from all {len(replies)} — "
                + ", ".join(first))
    return "kernel_info_reply keys differ: " + "; ".join(f"{n}: {', '.join(k)}" for n, k in replies.items())


def render_compact(result: KernelsResult):
    """`kij kernels` as kij tour shows it: one line per kernel, the seven jobs, the takeaway."""
    parts = [heading("kij kernels", "wrapper vs native: who writes the messaging"), Text("")]
    for k in result.kernels:
        a = k.answer
        line = Text(k.name, style="bold")
        line.append(f" · {k.source.kind or '?'}")
        line.append(f" · {a.implementation} {a.implementation_version or ''} · language {a.language}"
                    if a.language else f" · {a.skipped or a.error or 'no answer'}")
        parts.append(line)
    parts += [Text(""), jobs_block(result), Text("\nwhere each kernel.json was found, how {connection_file} "
                                                   "reached the process, each class's overrides: kij kernels",
                                                   style="dim"), takeaway(result.takeaway)]
    return Group(*parts)


def render(result: KernelsResult):
    """The whole lesson as one renderable."""
    parts = [heading("kij kernels", "wrapper vs native: who writes the messaging"), Text("")]
    for k in result.kernels:
        parts += [kernel_block(k, result), Text("")]
    keys = _same_keys(result)
    if keys:
        parts += [Text(keys, style=LABEL), Text("")]
    parts += [jobs_block(result), Text(""), sections_block(result)]
    boots = [k.answer.boot_ms for k in result.kernels if k.answer.boot_ms]
    if boots:
        parts.append(Text(f"\nkernels booted side by side: slowest ready after {max(boots):.0f} ms; "
                          f"whole lesson {result.elapsed_ms:.0f} ms", style="dim"))
    parts.append(takeaway(result.takeaway))
    return Group(*parts)
