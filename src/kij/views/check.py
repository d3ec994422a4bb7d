"""Draws `kij check`: which step, each check with its evidence, and what the next step needs."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kij.lessons.check import STEPS, CheckResult
from kij.views import console


def render(result: CheckResult) -> None:
    console().print(renderable(result))


def renderable(result: CheckResult) -> RenderableType:
    step = result.step
    parts: list[RenderableType] = []
    mark, style = ("✓", "green") if result.passed else ("✗", "red")
    verdict = "passes" if result.passed else "does not pass yet"
    parts.append(Text.assemble((f"{mark} ", style), (f"step {step.number:02d} — {step.title}", "bold"),
                               f" {verdict}", (f"  ({result.script})", "dim")))
    table = Table(show_header=False, box=None, padding=(0, 1))
    for check in result.checks:
        table.add_row(Text("✓", "green") if check.passed else Text("✗", "red"), check.name,
                      Text(check.detail, "dim" if check.passed else "red"), )
    parts.append(table)
    if not result.passed:
        parts.append(Text.assemble(("to pass: ", "bold"), step.needs))
        if result.kernel_log:
            parts.append(Text("the script's own stderr (last lines):", "bold"))
            parts.append(Text("\n".join(f"  {line}" for line in result.kernel_log), "dim"))
    elif result.next_step:
        nxt = result.next_step
        parts.append(Text.assemble(("next: ", "bold"), f"step {nxt.number:02d} — {nxt.title}: {nxt.needs}",
                                   ("  (", "dim"), (f"kij check {nxt.number}", "dim"), (")", "dim")))
    else:
        parts.append(Text(f"That was the last of the {len(STEPS)} steps: you have a Jupyter kernel.", "bold"))
    return Group(*parts)
