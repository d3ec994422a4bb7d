"""`kij tour` — every lesson in order, for a workshop or a first sitting.

What the learner should feel: the whole stack, layer by layer — IPython's REPL, state
in the kernel process, the wire, magics, swappable kernels, wrapper and native
kernels, control and comms, which interpreter, and the server between the browser
and the kernel — each closed by its one-line takeaway.

How it stays quick: every kernel the tour needs is launched up front into a
`kij.kernel.pool`, so later lessons' kernels boot in the background while earlier
lessons run; each lesson is the very code `kij <lesson>` runs, and its
`started([...])` takes the kernels launched for it from the pool instead of starting
its own (which's second kernel was launched with the tour's decoy PATH, and the
lesson's `decoy_python()` reuses that decoy). The sharing stays honest: every lesson
gets fresh kernels of its own — nothing one lesson did (state's restart, frames'
forged requests, magics' `%load_ext`) can leak into another — and the tour shuts them
all down at the end, together, on every path. This module never prints: it
says which kernels it is launching (`launching`), announces each lesson, hands each
finished one to `show`, and calls `between` (e.g. "press Enter") before the next one.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable

from kij.kernel import pool, timed
from kij.lessons import comms, control, frames, kernels, magics, repl_diff, server, state, swap, which


@dataclass
class Stop:
    """One lesson of the tour, once it has run."""

    number: int
    command: str  # the kij command that teaches it alone
    takeaway: str
    result: object
    elapsed_ms: float


@dataclass
class TourResult:
    stops: list[Stop] = field(default_factory=list)
    kernels_launched: int = 0
    elapsed_ms: float = 0.0


@dataclass
class PlannedStop:
    """A lesson as the tour runs it: the kernels its `started` will ask for, launched
    up front into the pool, and how to run it."""

    command: str
    takeaway: str
    kernels: list[tuple[str, dict | None]]  # (kernelspec name, environment or None)
    run: Callable[[], object]
    boots: str = ""  # when its kernels are not the pool's: who boots them


def steps(timeout: float, decoy: which.Decoy) -> list[PlannedStop]:
    swap_kernels, _ = swap.runnable(swap.DEFAULT_KERNELS)
    return [
        PlannedStop("repl-diff", repl_diff.TAKEAWAY, [("python3", None)], lambda: repl_diff.run(timeout=timeout)),
        PlannedStop("state", state.TAKEAWAY, [("python3", None)],  # its own: it restarts it
             lambda: state.run(timeout=timeout)),
        PlannedStop("frames", frames.TAKEAWAY, [("python3", None)],  # its own: it forges requests
             lambda: frames.run(timeout=timeout)),
        PlannedStop("magics", magics.TAKEAWAY, [("python3", None)],  # fresh: no %clap yet
             lambda: magics.run(timeout=timeout)),
        PlannedStop("swap", swap.TAKEAWAY, [(name, None) for name in swap_kernels], lambda: swap.run(timeout=timeout)),
        PlannedStop("kernels", kernels.TAKEAWAY, [(name, None) for name in swap.runnable(kernels.KERNELS)[0]],
             lambda: kernels.run(timeout=timeout)),
        PlannedStop("control", control.TAKEAWAY, [("python3", None)],  # its interrupt-by-message and
             lambda: control.run()),                                   # CurveZMQ kernels it starts itself
        PlannedStop("comms", comms.TAKEAWAY, [("python3", None)],  # fresh: it registers a comm target, makes widgets
             lambda: comms.run(timeout=timeout)),
        PlannedStop("which", which.TAKEAWAY, [("python3", None), ("python3", decoy.env)],
             lambda: which.run(timeout=timeout)),
        PlannedStop("server", server.TAKEAWAY, [], lambda: server.run(timeout=timeout),
             boots="its kernel is booted by a jupyter_server of its own, as JupyterLab's are"),
    ]


# Lessons the tour leaves out, and why: each needs what the tour cannot launch ahead.
LEFT_OUT = {
    "parallel": "it starts an ipyparallel controller and engines, a cluster rather than kernels",
    "export": "nbconvert boots the notebook's kernel itself, and the lesson wants your notebook",
    "view": "it draws a capture you saved, in a browser",
}


@timed
def run(
    announce: Callable[[int, int, PlannedStop], None],
    show: Callable[[Stop], None],
    between: Callable[[PlannedStop], None] | None = None,
    timeout: float = 30.0,
    launching: Callable[[list[PlannedStop]], None] | None = None,
) -> TourResult:
    """Run every lesson: `launching` once, with the plan, just before its kernels are
    launched; `announce` before each lesson (its heading), `show` after it (its view),
    `between` before the next one (workshop mode waits for Enter there)."""
    result = TourResult()
    with contextlib.ExitStack() as stack:  # on exit: every kernel first, then the decoy
        decoy = stack.enter_context(which.decoy_python())
        plan = steps(timeout, decoy)
        if launching is not None:
            launching(plan)
        kernels = stack.enter_context(pool([k for step in plan for k in step.kernels]))
        result.kernels_launched = len(kernels)
        for number, step in enumerate(plan, 1):
            announce(number, len(plan), step)
            outcome = step.run()
            stop = Stop(number, step.command, step.takeaway, outcome, outcome.elapsed_ms)
            result.stops.append(stop)
            show(stop)
            if between is not None and number < len(plan):
                between(plan[number])  # the next step
    return result
