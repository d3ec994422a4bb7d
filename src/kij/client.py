"""The kernel client kij drives: jupyter_client's blocking client, heartbeat fixed.

jupyter_client's heartbeat thread marks itself running only after it has made its
socket (`HBChannel._async_run`). A `stop()` that comes before that — Ctrl-C just
after a kernel launched, or any client stopped as soon as it started — is undone by
the thread a moment later. The thread then loops with its stop event already set:
each turn it sends a ping, does not wait, finds no pong, and opens a new socket (the
old one lingers a second with its unsent ping). Within a second or two the process
is out of file descriptors: `ZMQError: Too many open files` from the thread, and
`stop()` waits until then. Seen here in 12 to 14 of 50 clients started and stopped at
once under `ulimit -n 1024`; tests/test_lifecycle.py reproduces it.

`Client` is BlockingKernelClient with one change: its heartbeat counts as running
only while nobody has asked it to stop. Every client kij makes is one of these
(`kij.kernel` passes it to KernelManager as its client class).
"""

from __future__ import annotations

from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.channels import HBChannel
from traitlets import Type


class StoppableHBChannel(HBChannel):
    """A heartbeat thread that stays stopped once `stop()` was called, however early."""

    @property
    def _running(self) -> bool:
        return self.__dict__.get("_kij_running", False) and not self._exit.is_set()

    @_running.setter
    def _running(self, value: bool) -> None:
        self.__dict__["_kij_running"] = value


class Client(BlockingKernelClient):
    """jupyter_client's BlockingKernelClient with a heartbeat that stops when told."""

    hb_channel_class = Type(StoppableHBChannel)


CLIENT_CLASS = f"{__name__}.Client"  # for KernelManager(client_class=...)
