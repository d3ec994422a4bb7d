"""Draws `kij tour`: what it is launching, a heading before each lesson, the lesson's
own view (its takeaway closes it, once), the workshop prompts, the timings at the end.

Each function returns what to draw; the CLI prints it as the tour goes, and with
--pause on a terminal pages a lesson longer than the screen. The frames lesson is
drawn compactly here (the frames of one message, not of all of them); `kij frames`
draws everything.
"""

from __future__ import annotations

from collections import Counter

from rich.console import RenderableType
from rich.rule import Rule
from rich.text import Text

from kij.lessons.comms import CommsResult
from kij.lessons.control import ControlResult
from kij.lessons.kernels import KernelsResult
from kij.lessons.magics import MagicsResult
from kij.lessons.repl_diff import ReplDiffResult
from kij.lessons.server import ServerResult
from kij.lessons.state import StateResult
from kij.lessons.swap import SwapResult
from kij.lessons.tour import LEFT_OUT, PlannedStop, Stop, TourResult
from kij.lessons.which import WhichResult
from kij.trace import Capture
from kij.views import comms, control, frames, kernels, magics, repl_diff, server, state, swap, which
from kij.views.parts import ByWidth, lines, wrap_at_spaces

# The view that draws each lesson's result in the tour, by the result's type.
DRAW = {
    ReplDiffResult: repl_diff.render,
    StateResult: state.render,
    Capture: frames.render_compact,
    MagicsResult: magics.render,
    SwapResult: swap.render,
    WhichResult: which.render,
    KernelsResult: kernels.render_compact,
    ControlResult: control.render_compact,
    CommsResult: comms.render_compact,
    ServerResult: server.render_compact,
}


def launching(plan: list[PlannedStop]) -> Text:
    """What the tour is about to start, and why it starts it all now."""
    names = Counter(name for step in plan for name, _ in step.kernels)
    count = sum(names.values())
    kinds = ", ".join(f"{n} × {name}" if n > 1 else name for name, n in names.items())
    text = Text.from_markup(f"[bold]kij tour[/] — {len(plan)} lessons. Launching all {count} kernels they need "
                            f"({kinds}) now, so each lesson finds its own booted.")
    for step in plan:
        if step.boots:
            text.append(f" kij {step.command}: {step.boots}.")
    left_out = "; ".join(f"kij {name}: {why}" for name, why in LEFT_OUT.items())
    text.append(f" Left out, to run alone: {left_out}.", style="dim")
    return text


def announce(number: int, total: int, step: PlannedStop) -> RenderableType:
    return lines([Text(), Rule(f"[bold]{number}/{total} · kij {step.command}[/]", align="left", style="blue")])


def lesson(stop: Stop) -> RenderableType:
    """A finished lesson, drawn by its own view."""
    return DRAW[type(stop.result)](stop.result)


def more(start: int, total: int) -> Text:
    """The pager's prompt (on stderr): how far into a long lesson the screen is."""
    return Text(f"-- more ({start}/{total} lines): press Enter --", style="dim")


def next_prompt(next_step: PlannedStop) -> Text:
    """Workshop mode's prompt (on stderr) before the next lesson."""
    return Text(f"press Enter for kij {next_step.command} …", style="dim")


def summary(result: TourResult) -> RenderableType:
    # no-break spaces: a lesson's name and its time stay on one line
    parts = ", ".join(f"{s.command}\u00a0{s.elapsed_ms / 1000:.1f}\u00a0s" for s in result.stops)
    done = Text.from_markup(f"[bold]tour done[/] in {result.elapsed_ms / 1000:.1f} s — {result.kernels_launched} "
                            f"kernels, all launched up front and shut down at the end [dim]({parts})[/]")
    return lines([Text(), ByWidth(lambda width: wrap_at_spaces(done, width))])
