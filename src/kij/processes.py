"""Processes kij started outside jupyter_client — a jupyter_server, an ipyparallel
controller and its engines, the tap proxies and kernels behind a server — and the one
way kij makes sure they are gone: wait for each to end on its own, then SIGKILL what
is still there.

jupyter_client's KernelManager ends the kernels kij starts itself (kij.kernel); this
module is for everything else, whose parent kij asked to stop first (a REST
shutdown, ipyparallel's stop, a kernel's own shutdown for the processes that kernel
started) and now only has to check.
"""

from __future__ import annotations

import contextlib

import psutil


def tree(pids) -> list[psutil.Process]:
    """Each live process of pids and every process it started, recursively."""
    procs = []
    for pid in {p for p in pids if p}:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            procs += [proc, *proc.children(recursive=True)]
    return procs


def reap(procs, wait: float = 10.0) -> None:
    """Wait up to `wait` seconds for the processes (psutil.Process objects, or PIDs) to
    end — reaping those that are kij's children — and SIGKILL any still there."""
    procs = [p if isinstance(p, psutil.Process) else _process(p) for p in procs]
    _, alive = psutil.wait_procs([p for p in procs if p is not None], timeout=wait)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=wait)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None
