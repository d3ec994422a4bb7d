"""Draws `kij tour`: a heading and takeaway before each lesson, the workshop pause
between lessons, and the timings at the end."""

from __future__ import annotations

from kij.lessons.tour import Step, TourResult
from kij.views import console


def announce(number: int, total: int, step: Step) -> None:
    from rich.markup import escape
    from rich.rule import Rule

    con = console()
    con.print()
    con.print(Rule(f"[bold]{number}/{total} · kij {step.command}[/]", align="left", style="blue"))
    con.print(f"[italic]{escape(step.takeaway)}[/]\n")


def pause(next_step: Step) -> None:
    """Workshop mode: wait for Enter (the prompt goes to stderr, out of the way of stdout)."""
    console(stderr=True).print(f"[dim]press Enter for kij {next_step.command} …[/]", end="")
    input()


def summary(result: TourResult) -> None:
    con = console()
    con.print()
    parts = ", ".join(f"{s.command} {s.elapsed_ms / 1000:.1f} s" for s in result.stops)
    con.print(f"[bold]tour done[/] in {result.elapsed_ms / 1000:.1f} s — {result.kernels_launched} kernels, "
              f"all launched up front and shut down at the end [dim]({parts})[/]")
