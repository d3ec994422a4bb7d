"""Rendering for people (rich) and for programs (JSON). Views know nothing about
where their data came from: each takes a lesson's result and returns what to draw
(a rich renderable); it never starts a kernel and never prints — kij.cli does.

The parts every view is built from live in kij.views.parts; `facts` below turns a
result into the plain data that `--json` prints."""

from __future__ import annotations

import dataclasses


def facts(value):
    """A lesson's result as plain data for JSON. Like dataclasses.asdict, except that
    fields marked `metadata={"json": False}` (e.g. output with its colour codes still
    in, kept for the rich view) are left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: facts(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("json", True)
        }
    if isinstance(value, dict):
        return {k: facts(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [facts(v) for v in value]
    return value
