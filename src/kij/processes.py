"""Processes kij started outside jupyter_client — a jupyter_server, an ipyparallel
controller and its engines, the tap proxies and kernels behind a server — and the one
way kij makes sure they are gone: wait for each to end on its own, then SIGKILL what
is still there.

jupyter_client's KernelManager ends the kernels kij starts itself (kij.kernel); this
module is for everything else, whose parent kij asked to stop first (a REST
shutdown, ipyparallel's stop, a kernel's own shutdown for the processes that kernel
started) and now only has to check (`reap`; a zombie counts as ended). A process tree
can still change under kij: a controller forks its schedulers while it starts, so kij
also marks the environment of what it starts (`marked`), finds every process that
inherited the mark (`carrying`), and ends those with SIGTERM first (`stop`).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

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
    alive = _wait_ended([p for p in procs if p is not None], wait)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _wait_ended(alive, wait)


def _wait_ended(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has ended; return those still running at the deadline.

    A process that is not kij's child is only reaped by whoever adopted it — init, or a
    container's first process, which may never do it. Its exit leaves a zombie, which
    psutil.wait_procs counts as running: kij waited out the whole timeout for a
    bash_kernel's bash that had long exited (2 s per bash kernel). A zombie has ended."""
    deadline = time.monotonic() + timeout
    alive = list(procs)
    while alive:
        _, alive = psutil.wait_procs(alive, timeout=max(0.0, min(0.1, deadline - time.monotonic())))
        alive = [p for p in alive if not _ended(p)]
        if time.monotonic() >= deadline:
            break
    return alive


def _ended(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:  # gone meanwhile
        return True


def stop(procs, wait: float = 10.0) -> None:
    """SIGTERM each process, then `reap` them."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    reap(procs, wait=wait)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


@contextlib.contextmanager
def marked(name: str, value: str):
    """Every process started inside inherits name=value in its environment (and so do
    the processes those start, forked or not); kij's own environment is as before after."""
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def carrying(name: str, value: str) -> list[psutil.Process]:
    """The live processes whose environment holds name=value (see `marked`)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError, psutil.Error):
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                proc = psutil.Process(int(entry.name))
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
    return found
