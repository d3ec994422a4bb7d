"""How kij ends when it does not end well, and the exit code each way means.

Two kinds of failure: a user's mistake (unknown kernel, missing file, bad flag) is a
UserError: one line on stderr, exit 2. Something that went wrong on the kernel's side
(it died, it hung) is a KernelFault: what happened and what to do, exit 1. The CLI
turns both into a message; nobody ever sees a traceback for them.

And two ways of being stopped, both SystemExits so that every `finally` (kernel
shutdown) still runs: Terminated (SIGTERM, exit 143) and ClosedPipe (whoever read
kij's output stopped reading: end quietly, exit 0).
"""


class KijError(Exception):
    """Base for failures kij explains in words instead of a traceback."""

    exit_code = 1


class UserError(KijError):
    """The input was wrong: exit 2."""

    exit_code = 2


class KernelFault(KijError):
    """The kernel failed us (died, hung, never answered): exit 1."""

    exit_code = 1


class KernelDied(KernelFault):
    """The kernel process is gone."""


class KernelTimeout(KernelFault):
    """The kernel did not finish in time, even after an interrupt."""


class Terminated(SystemExit):
    """Raised by kij's SIGTERM handler so that every `finally` runs (exit 143).

    A SystemExit, not a bare BaseException: the handler raises it wherever the main
    thread happens to be, and that is often inside asyncio (jupyter_client runs its
    calls on an event loop). asyncio lets only SystemExit and KeyboardInterrupt out
    of a callback; anything else it logs and swallows — and if the callback was the
    one that stops the loop, the loop then waits forever."""


class ClosedPipe(SystemExit):
    """Whoever read kij's output stopped reading (`kij tour | head`): end quietly, exit 0.

    Exit 1 would say "the kernel failed", and nothing did. A SystemExit, so it passes
    every `except Exception` on its way out while every `finally` (kernel shutdown)
    still runs."""

    def __init__(self) -> None:
        super().__init__(0)
