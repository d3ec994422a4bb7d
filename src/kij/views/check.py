"""Draws `kij check`: which step, each check with its evidence, and what the next step needs;
with no step, the track itself (each step, its starter, its solution). `progress` is the
spinner's words while a step's checks run (the CLI draws the spinner)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from rich.console import Group, RenderableType
from rich.text import Text

from kij.lessons.check import STEPS, CheckResult, BuildStep, StepList, default_script, starter_script
from kij.views.parts import CHECK, ByWidth


def render(result: CheckResult | StepList) -> ByWidth:
    return ByWidth(lambda width: renderable(result, width))


def checking(step: BuildStep, check: str | None = None) -> str:
    """What the spinner says while a step's checks run: the step, and the check under way."""
    title = f"step {step.number:02d} — {step.title}"
    return f"checking {title}: {check} …" if check else f"checking {title} …"


def shown(path: Path) -> str:
    """A path as the learner would type it: relative to the current directory when under it."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def renderable(result: CheckResult | StepList, width: int) -> RenderableType:
    if isinstance(result, StepList):
        return track(result, width)
    step = result.step
    parts: list[RenderableType] = []
    mark, style = CHECK[result.passed]
    verdict = "passes" if result.passed else "does not pass yet"
    parts.append(Text.assemble((f"{mark} ", style), (f"step {step.number:02d} — {step.title}", "bold"),
                               f" {verdict}"))
    parts.append(Text(f"  {shown(result.script)}", "dim"))
    parts.extend(check_lines(result.checks, width))
    if not result.passed:
        parts.append(Text.assemble(("to pass: ", "bold"), wrapped(step.needs, len("to pass: "), width)))
        solution = default_script(step)
        if solution.exists() and Path(result.script).resolve() != solution.resolve():
            parts.append(Text.assemble(("stuck? ", "bold"), "the solution is ", (shown(solution), "cyan")))
        if result.kernel_log:
            parts.append(Text("the script's own stderr (its last traceback, or last lines):", "bold"))
            for line in last_traceback(result.kernel_log):
                parts.append(Text(f"  {line}", "dim", no_wrap=True, overflow="ellipsis"))
    elif result.next_step:
        nxt = result.next_step
        parts.append(Text.assemble(("next: ", "bold"), wrapped(f"step {nxt.number:02d} — {nxt.title}: {nxt.needs}",
                                                               len("next: "), width)))
        parts.append(Text.assemble("  starter  ", (shown(starter_script(nxt)), "cyan")))
        parts.append(Text.assemble("  check    ", (f"kij check {nxt.number} --file mine.py", "cyan")))
    else:
        parts.append(Text(f"That was the last of the {len(STEPS)} steps: you have a Jupyter kernel.", "bold"))
    return Group(*parts)


def check_lines(checks, width: int) -> list[Text]:
    """One line per check: mark, name, evidence (on the next line, indented, when it would not fit)."""
    name_width = max((len(check.name) for check in checks), default=0)
    lines = []
    for check in checks:
        mark = ("  ✓ ", "green") if check.passed else ("  ✗ ", "red")
        detail_style = "dim" if check.passed else "red"
        if 4 + name_width + 2 + len(check.detail) <= width:
            lines.append(Text.assemble(mark, check.name.ljust(name_width) + "  " if check.detail else check.name,
                                       (check.detail, detail_style)))
        else:
            lines.append(Text.assemble(mark, check.name))
            lines.append(Text("      " + wrapped(check.detail, 6, width).replace("\n", "\n      "), detail_style))
    return lines


def wrapped(text: str, first: int, width: int) -> str:
    """text wrapped to width by words, the first line `first` columns in; no trailing spaces."""
    lines = textwrap.wrap(" " * first + text, max(width, 40))
    return "\n".join(lines)[first:]


def last_traceback(lines: list[str], most: int = 12) -> list[str]:
    """From the last 'Traceback' line on (one copy, not every repeat), at most `most` lines."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    return (lines[starts[-1]:] if starts else lines)[-most:]


def track(listing: StepList, width: int) -> RenderableType:
    """`kij check` with no step: the seven steps and how to work through them.
    Wrapped here (not by a table) so no line carries trailing padding."""
    lines = Text()
    for step in listing.steps:
        lines.append(f"{step.number:02d}  ", "bold")
        lines.append(step.title + "\n", "bold")
        for line in textwrap.wrap(step.needs, max(width - 4, 20)):
            lines.append(f"    {line}\n", "dim")
    how = Text.assemble(
        "Copy a starter (the parts to write are marked TODO), check it, and read\n"
        "the solution when stuck:\n",
        ("  cp ", "cyan"), (shown(listing.starters[1]), "cyan"), (" mine.py\n", "cyan"),
        ("  kij check 2 --file mine.py\n", "cyan"),
        "  solution: ", (shown(listing.solutions[1]), "cyan"), "\n",
        "Without --file, kij check N checks the shipped solution.",
    )
    return Group(Text(f"The build track: a Jupyter kernel in {len(listing.steps)} steps (demos/build/)\n", "bold"),
                 lines, how)
