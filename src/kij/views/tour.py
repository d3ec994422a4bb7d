"""Draws `kij tour`: what it is launching, a heading before each lesson, the lesson's
own view (its takeaway closes it, once), the workshop pause, the timings at the end.

With --pause on a terminal, a lesson longer than the screen is paged: a screenful,
then Enter for the next one. The frames lesson is drawn compactly here (the frames of
one message, not of all of them); `kij frames` draws everything.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter

from kij import views
from kij.lessons.tour import Step, Stop, TourResult
from kij.views import console
from kij.views import frames, magics, repl_diff, state, swap, which

# The view that draws each lesson's result in the tour, by the lesson's command.
DRAW = {
    "repl-diff": repl_diff.render,
    "state": state.render,
    "frames": frames.render_compact,
    "magics": magics.render,
    "swap": swap.render,
    "which": which.render,
}


def launching(plan: list[Step]) -> None:
    """What the tour is about to start, and why it starts it all now."""
    names = Counter(name for step in plan for name, _ in step.kernels)
    count = sum(names.values())
    kinds = ", ".join(f"{n} × {name}" if n > 1 else name for name, n in names.items())
    console().print(f"[bold]kij tour[/] — {len(plan)} lessons. Launching all {count} kernels they need "
                    f"({kinds}) now, so each lesson finds its own booted.")


def announce(number: int, total: int, step: Step) -> None:
    from rich.rule import Rule

    con = console()
    con.print()
    con.print(Rule(f"[bold]{number}/{total} · kij {step.command}[/]", align="left", style="blue"))


def page(text: str, rows: int) -> None:
    """Print text a screenful (rows - 1 lines) at a time, waiting for Enter between."""
    lines = text.splitlines(keepends=True)
    size = max(rows - 1, 5)
    for start in range(0, len(lines), size):
        if start:
            console(stderr=True).print(f"[dim]-- more ({start}/{len(lines)} lines): press Enter --[/]", end="")
            input()
        sys.stdout.write("".join(lines[start:start + size]))
        sys.stdout.flush()


class Tour:
    """The tour's screen. In workshop mode (--pause, someone at the keyboard) it waits
    for Enter before each next lesson; on a terminal it also pages each lesson, its
    heading included, a screenful at a time."""

    def __init__(self, waits: bool = False, pages: bool = False):
        self.waits = waits
        self.pages = pages
        self.held = ""  # paged: what was drawn since the last page, not shown yet

    def _draw(self, draw, *args) -> None:
        if not self.pages:
            return draw(*args)
        with views.captured() as drawn:
            draw(*args)
        self.held += drawn.get()

    def launching(self, plan: list[Step]) -> None:
        self._draw(launching, plan)

    def announce(self, number: int, total: int, step: Step) -> None:
        self._draw(announce, number, total, step)

    def lesson(self, stop: Stop) -> None:
        self._draw(DRAW[stop.command], stop.result)
        if self.pages:
            text, self.held = self.held, ""
            page(text, shutil.get_terminal_size().lines)

    def between(self, next_step: Step) -> None:
        """Workshop mode: wait for Enter (the prompt goes to stderr, out of stdout's way)."""
        if self.waits:
            console(stderr=True).print(f"[dim]press Enter for kij {next_step.command} …[/]", end="")
            input()


def summary(result: TourResult) -> None:
    con = console()
    con.print()
    # no-break spaces: a lesson's name and its time stay on one line
    parts = ", ".join(f"{s.command}\u00a0{s.elapsed_ms / 1000:.1f}\u00a0s" for s in result.stops)
    con.print(f"[bold]tour done[/] in {result.elapsed_ms / 1000:.1f} s — {result.kernels_launched} kernels, "
              f"all launched up front and shut down at the end [dim]({parts})[/]")
