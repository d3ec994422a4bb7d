"""`kij tap` — the wire of the frontend you already use.

What the learner should feel: the messages `kij frames` showed are not a kij
invention. Pick "Python 3 (kij tap)" in JupyterLab, press Shift+Enter, and the very
same execute_request, status busy, execute_input, stream, execute_result,
execute_reply, status idle scroll past in the other terminal — your notebook's own
traffic, signed with your notebook's own key, relayed unchanged by a proxy kernel
(src/kij/tap.py) that sits between JupyterLab and the real kernel.

This module is the side that reads: where the traces are, following the newest one
as it grows (`follow` yields what arrives; the view draws it), and installing a tap
kernelspec in front of any other kernelspec.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from kij import trace
from kij.errors import UserError
from kij.sniffer import capture_of
from kij.tap import trace_dir

FOLLOW_POLL = 0.1  # seconds between looks at the growing trace (tail -f)
TAP_PREFIX = "kij-tap-"


# --- what `kij tap` says without flags ------------------------------------------------


@dataclass
class Status:
    trace_dir: str
    env_trace: str | None
    traces: list[str] = field(default_factory=list)  # newest first
    kernelspecs: dict[str, str] = field(default_factory=dict)  # tap kernelspecs: name → wrapped kernel


def status() -> Status:
    specs = {}
    for name, spec in _kernelspecs().items():
        wrapped = _wrapped(spec)
        if wrapped is not None:
            specs[name] = wrapped
    return Status(trace_dir=str(trace_dir()), env_trace=os.environ.get("KIJ_TAP_TRACE"),
                  traces=[str(p) for p in traces()], kernelspecs=specs)


def traces() -> list[Path]:
    """The traces in the runtime directory, newest first."""
    d = trace_dir()
    if not d.is_dir():
        return []
    return sorted(d.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)


# --- following a trace as it grows ----------------------------------------------------


@dataclass
class Event:
    kind: str  # waiting | file | head | record
    path: str = ""
    head: dict | None = None
    record: trace.Record | None = None
    checked_here: bool = False  # signature recomputed by --follow itself (key from --connection-file)


def _default_source() -> Path | None:
    env = os.environ.get("KIJ_TAP_TRACE")
    if env:
        return Path(env)
    found = traces()
    return found[0] if found else None


def follow(file: str | None = None, connection_file: str | None = None,
           poll: float = FOLLOW_POLL) -> Iterator[Event]:
    """Yield the trace's head and records as they are written, forever (the caller
    stops with Ctrl-C). Without FILE: $KIJ_TAP_TRACE, else the newest trace in the
    runtime directory — and a newer trace (another kernel) when one appears."""
    key, scheme = None, "hmac-sha256"
    if connection_file:
        from kij.kernel import read_connection_file

        info = read_connection_file(connection_file)
        key, scheme = info["key"], info.get("signature_scheme", scheme)
    fixed = Path(file) if file else None
    if fixed is not None and not fixed.exists():
        raise UserError(f"no such trace file: {fixed}")
    current: Path | None = None
    handle = None
    pending = ""
    first_line = True
    waiting_said = False
    try:
        while True:
            source = fixed or _default_source()
            if source is not None and source.exists() and source != current and (
                    current is None or fixed is not None or _newer(source, current)):
                if handle is not None:
                    handle.close()
                current, handle, pending, first_line = source, open(source, encoding="utf-8", errors="replace"), "", True
                yield Event("file", path=str(current))
            if handle is None:
                if not waiting_said:
                    waiting_said = True
                    yield Event("waiting", path=os.environ.get("KIJ_TAP_TRACE") or str(trace_dir()))
                time.sleep(poll)
                continue
            chunk = handle.read()
            if not chunk:
                time.sleep(poll)
                continue
            pending += chunk
            *lines, pending = pending.split("\n")
            for line in lines:
                event = _event(line, first_line, key, scheme)
                first_line = False
                if event is not None:
                    yield event
    finally:
        if handle is not None:
            handle.close()


def _newer(candidate: Path, current: Path) -> bool:
    try:
        return candidate.stat().st_mtime > current.stat().st_mtime
    except OSError:
        return True


def _event(line: str, first: bool, key, scheme: str) -> Event | None:
    if not line.strip():
        return None
    try:
        item = json.loads(line)
    except json.JSONDecodeError:
        return None  # a line still being written by another process, or not ours
    if not isinstance(item, dict):
        return None
    if "channel" not in item:
        return Event("head", head=item) if first else None
    try:
        record = trace._record(item)
    except (TypeError, ValueError):
        return None
    if key is None:
        return Event("record", record=record)
    frames = [f.data for f in record.frames]
    record.signature_valid = capture_of(record.channel, record.direction, 0.0, frames, key, scheme).signature_valid
    return Event("record", record=record, checked_here=True)


# --- tap kernelspecs in front of other kernels -------------------------------------------


def _kernelspecs() -> dict:
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager()
    found = {}
    for name in ksm.find_kernel_specs():
        try:
            found[name] = ksm.get_kernel_spec(name)
        except Exception:  # noqa: BLE001 — someone else's broken kernelspec is not our failure
            continue
    return found


def _wrapped(spec) -> str | None:
    """The kernel a tap kernelspec wraps (python3 for kij-tap), or None if it is no tap."""
    argv = list(spec.argv)
    if "kij.tap" not in argv:
        return None
    return argv[argv.index("--kernel") + 1] if "--kernel" in argv[:-1] else "python3"


def kernels_dir(prefix: str | None = None) -> Path:
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels"


@dataclass
class Installed:
    name: str
    wraps: str
    display_name: str
    path: str
    removed: list[str] = field(default_factory=list)


def install(kernel: str, prefix: str | None = None) -> Installed:
    """Write a `kij-tap-KERNEL` kernelspec that starts KERNEL behind the tap."""
    from kij.kernel import check_kernel_names

    check_kernel_names([kernel])
    spec = _kernelspecs().get(kernel)
    if spec is None:
        raise UserError(f"the kernelspec {kernel!r} cannot be read")
    if _wrapped(spec) is not None:
        raise UserError(f"{kernel!r} is already a tap kernel")
    name = TAP_PREFIX + kernel
    target = kernels_dir(prefix) / name
    try:
        target.mkdir(parents=True, exist_ok=True)
        document = {
            "argv": ["python", "-m", "kij.tap", "-f", "{connection_file}", "--kernel", kernel],
            "display_name": f"{spec.display_name} (kij tap)",
            "language": spec.language,
            "interrupt_mode": "signal",  # the proxy passes SIGINT on the way the real kernel wants it
            "metadata": spec.metadata or {},
        }
        (target / "kernel.json").write_text(json.dumps(document, indent=2) + "\n")
        for logo in Path(spec.resource_dir).glob("logo-*"):
            shutil.copy(logo, target / logo.name)
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc.__class__.__name__}") from None
    return Installed(name=name, wraps=kernel, display_name=document["display_name"], path=str(target))


def uninstall(kernel: str | None = None, prefix: str | None = None) -> list[str]:
    """Remove kij-tap-KERNEL (or every kij-tap-* kij installed under prefix).
    The shipped kij-tap kernelspec belongs to the package and stays."""
    base = kernels_dir(prefix)
    if kernel is not None:
        name = kernel if kernel.startswith(TAP_PREFIX) else TAP_PREFIX + kernel
        candidates = [base / name]
        if not candidates[0].is_dir():
            raise UserError(f"no tap kernelspec {name!r} in {base}")
    else:
        candidates = sorted(base.glob(TAP_PREFIX + "*")) if base.is_dir() else []
    removed = []
    for d in candidates:
        try:
            argv = json.loads((d / "kernel.json").read_text()).get("argv", [])
        except (OSError, ValueError):
            continue
        if "kij.tap" in argv:  # only what kij wrote
            shutil.rmtree(d)
            removed.append(str(d))
    return removed
