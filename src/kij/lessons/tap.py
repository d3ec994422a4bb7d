"""`kij tap` — the wire of the frontend you already use.

What the learner should feel: the messages `kij frames` showed are not a kij
invention. Pick "Python 3 (kij tap)" in JupyterLab, press Shift+Enter, and the very
same execute_request, status busy, execute_input, stream, execute_result,
execute_reply, status idle scroll past in the other terminal — your notebook's own
traffic, signed with your notebook's own key, relayed unchanged by a proxy kernel
(src/kij/tap.py) that sits between JupyterLab and the real kernel.

This module is the side that reads: where the traces are and which are live (a
proxy still writes to them — it holds the writer's lock, trace.being_written) or
finished recordings; following one as it grows (`follow` yields what arrives; the
view draws it); pruning finished ones; and installing a tap kernelspec in front of
any other kernelspec.
"""

from __future__ import annotations

import contextlib
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
from kij.sniffer import sniffed
from kij.tap import kernel_id, trace_dir

FOLLOW_POLL = 0.1  # seconds between looks at the growing trace (tail -f)
PRUNE_AFTER_S = 7 * 24 * 3600  # --follow removes finished traces not written for a week
TAP_PREFIX = "kij-tap-"


# --- the traces: which, whose, live or finished ------------------------------------


@dataclass
class TraceInfo:
    """One trace file and what is true of it now."""

    path: str
    kernel_id: str  # the frontend's kernel id (its connection file's name), from the head line
    kernel: str | None  # the kernelspec behind the tap
    started: float | None  # when the (first) proxy writing it started, from the head line
    modified: float  # when it was last written
    live: bool  # a proxy still holds the writer's lock on it

    @property
    def age_s(self) -> float:
        return time.time() - self.modified


def describe(path: Path) -> TraceInfo:
    head = trace.read_head(path)
    kernel = head.get("kernel") if isinstance(head.get("kernel"), dict) else {}
    tap = head.get("tap") if isinstance(head.get("tap"), dict) else {}
    started = tap.get("started")
    try:
        modified = path.stat().st_mtime
    except OSError:
        modified = 0.0
    return TraceInfo(
        path=str(path), kernel_id=kernel_id(kernel.get("connection_file") or path.name.removesuffix(".jsonl")),
        kernel=kernel.get("name"), started=started if isinstance(started, (int, float)) else None,
        modified=modified, live=trace.being_written(path),
    )


def traces() -> list[Path]:
    """The traces in the runtime directory, newest first."""
    d = trace_dir()
    if not d.is_dir():
        return []
    found = []
    for p in d.glob("*.jsonl"):
        try:
            found.append((p.stat().st_mtime, p))
        except OSError:  # removed between the listing and the look
            continue
    return [p for _, p in sorted(found, reverse=True)]


def prune(older_than_s: float | None = PRUNE_AFTER_S) -> list[TraceInfo]:
    """Remove the finished traces in the runtime directory (not written for
    older_than_s; None: every finished one). A live trace is never removed."""
    removed = []
    for path in traces():
        info = describe(path)
        if info.live or (older_than_s is not None and info.age_s < older_than_s):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(info)
    return removed


# --- what `kij tap` says without flags ------------------------------------------------


@dataclass
class Status:
    trace_dir: str
    env_trace: str | None
    traces: list[TraceInfo] = field(default_factory=list)  # newest first
    kernelspecs: dict[str, str] = field(default_factory=dict)  # tap kernelspecs: name → wrapped kernel


def status() -> Status:
    specs = {}
    for name, spec in _kernelspecs().items():
        wrapped = _wrapped(spec)
        if wrapped is not None:
            specs[name] = wrapped
    return Status(trace_dir=str(trace_dir()), env_trace=os.environ.get("KIJ_TAP_TRACE"),
                  traces=[describe(p) for p in traces()], kernelspecs=specs)


# --- following a trace as it grows ----------------------------------------------------


@dataclass
class Event:
    kind: str  # pruned | waiting | file | head | continued | record | caught_up | ended
    path: str = ""
    head: dict | None = None
    record: trace.Record | None = None
    checked_here: bool = False  # signature recomputed by --follow itself (key from --connection-file)
    info: TraceInfo | None = None  # file, caught_up, ended: the trace and whether it is live
    pruned: list[TraceInfo] = field(default_factory=list)
    newest_finished: TraceInfo | None = None  # waiting: the latest recording, if any


def _candidates() -> list[Path]:
    env = os.environ.get("KIJ_TAP_TRACE")
    return [Path(env)] if env else traces()


def _newest_live() -> Path | None:
    for path in _candidates():
        if path.exists() and trace.being_written(path):
            return path
    return None


def _newest_finished() -> TraceInfo | None:
    for path in _candidates():
        if path.exists() and not trace.being_written(path):
            return describe(path)
    return None


def follow(file: str | None = None, connection_file: str | None = None,
           poll: float = FOLLOW_POLL) -> Iterator[Event]:
    """Yield a trace's head and records as they are written.

    With FILE: that trace. A finished one is a recording: all of it, then "ended".
    A live one is followed until its tap exits ("ended"), and again from where it
    stopped if a tap takes it up once more (a restart continues the same trace).
    Without FILE: first prune finished traces older than PRUNE_AFTER_S, then follow
    the newest *live* trace ($KIJ_TAP_TRACE, else the runtime directory's), and when
    its tap exits, whichever trace is live next. Both run until Ctrl-C, except for a
    recording. A finished trace is never shown as if it were live."""
    key, scheme = None, "hmac-sha256"
    if connection_file:
        from kij.kernel import read_connection_file

        info = read_connection_file(connection_file)
        key, scheme = info["key"], info.get("signature_scheme", scheme)
    fixed = Path(file) if file is not None else None
    if fixed is not None and not fixed.exists():
        raise UserError(f"no such trace file: {fixed}")
    if fixed is not None and not trace.being_written(fixed):
        yield from _follow_one(fixed, key, scheme, poll)
        return
    if fixed is None:
        pruned = prune()
        if pruned:
            yield Event("pruned", pruned=pruned)
    read_up_to: dict[str, int] = {}  # trace → where we stopped when its tap exited
    while True:
        source = fixed if fixed is not None and trace.being_written(fixed) else (None if fixed else _newest_live())
        if source is None:
            if fixed is None:
                yield Event("waiting", path=os.environ.get("KIJ_TAP_TRACE") or str(trace_dir()),
                            newest_finished=_newest_finished())
            else:  # its tap exited: a restart takes the same trace up again
                yield Event("waiting", path=str(fixed), info=describe(fixed))
            while source is None:
                time.sleep(poll)
                source = (fixed if trace.being_written(fixed) else None) if fixed else _newest_live()
        read_up_to[str(source)] = yield from _follow_one(source, key, scheme, poll, read_up_to.get(str(source), 0))


def _follow_one(path: Path, key, scheme: str, poll: float, start: int = 0) -> Iterator[Event]:
    """One trace from byte `start` (0: its head line): records as they come while its
    tap lives; "caught_up" once the history is out; "ended" when the tap is gone and
    everything is read. Returns where it stopped."""
    yield Event("file", path=str(path), info=describe(path))
    pending, first_line, caught_up = b"", start == 0, False  # bytes: a line may end mid-character
    with open(path, "rb") as handle:
        handle.seek(start)
        while True:
            live = trace.being_written(path)  # before reading: a tap that exits has written its last
            chunk = handle.read()
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    event = _event(line.decode("utf-8", errors="replace"), first_line, key, scheme)
                    first_line = False
                    if event is not None:
                        yield event
                continue
            if not live:
                yield Event("ended", path=str(path), info=describe(path))
                return handle.tell() - len(pending)
            if not caught_up:
                caught_up = True
                yield Event("caught_up", path=str(path), info=describe(path))
            time.sleep(poll)


def _event(text: str, first: bool, key, scheme: str) -> Event | None:
    line = trace.read_line(text, first)
    if line is None:  # blank, still being written by another process, or not ours
        return None
    if line.kind != "record":
        return Event(line.kind, head=line.head)  # head | continued
    record = line.record
    if key is None:
        return Event("record", record=record)
    frames = [f.data for f in record.frames]
    record.signature_valid = sniffed(record.channel, record.direction, 0.0, frames, key, scheme).signature_valid
    return Event("record", record=record, checked_here=True)


# --- tap kernelspecs in front of other kernels -------------------------------------------


def _kernelspecs() -> dict:
    from kij.kernel import spec_manager

    ksm = spec_manager()
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


def check_flags(action: str | None, follow: bool, kernel: str | None, connection_file: str | None,
                frames: bool, prefix: str | None, as_json: bool) -> None:
    """kij tap's flags, refused before anything happens: each action takes its own."""
    if action in ("install", "uninstall"):
        if follow or connection_file or frames:
            raise UserError(f"kij tap {action} takes --kernel and --prefix, not --follow")
        if action == "install" and not kernel:
            raise UserError("kij tap install needs --kernel NAME (the kernelspec to put behind the tap)")
    elif action == "prune":
        if follow or connection_file or frames or kernel or prefix:
            raise UserError("kij tap prune takes no flags: it removes every finished trace (never a live one)")
    elif follow:
        if as_json:
            raise UserError("--follow draws for people; the trace itself is the JSON (JSON lines)")
    elif action is not None:
        raise UserError(f"unknown action {action!r}: use install, uninstall, prune, or --follow [FILE]")
