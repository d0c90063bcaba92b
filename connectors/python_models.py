"""In-process models for the `python-model` operator, found by name.

A package offers a model by declaring an entry point in the `ingestd.models` group
(`[project.entry-points."ingestd.models"] captioner = "mypkg.models:caption"`); a process
that embeds ingestd may also `register(name, fn)`. Only such names load: a workflow cannot
import arbitrary code. The function takes the platform's input object and returns the
model's answer (`{"concepts": [...], "regions": [...], "text": ...}`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from pipeline.errors import InputError
from pipeline.status import StatusCode

GROUP = "ingestd.models"
Model = Callable[[dict[str, Any]], Any]

_registered: dict[str, Model] = {}


def register(name: str, fn: Model) -> None:
    """Offer `fn` as the model `name` in this process."""
    _registered[name] = fn


class PythonModels:
    """Loads models by name: registered ones first, then the entry-point group."""

    def __init__(self) -> None:
        self._loaded: dict[str, Model] = {}
        self._lock = threading.Lock()

    def load(self, name: str) -> Model:
        if name in _registered:
            return _registered[name]
        with self._lock:
            if name not in self._loaded:
                found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
                if not found:
                    known = sorted({*_registered, *(ep.name for ep in entry_points(group=GROUP))})
                    raise InputError(
                        StatusCode.WORKFLOW_INVALID_ARGUMENT,
                        f"no Python model {name!r} in entry-point group {GROUP!r} "
                        f"(installed: {', '.join(known) or 'none'})",
                    )
                fn = found[0].load()
                if not callable(fn):
                    raise InputError(
                        StatusCode.WORKFLOW_INVALID_ARGUMENT,
                        f"entry point {name!r} ({found[0].value}) is not callable",
                    )
                self._loaded[name] = fn
            return self._loaded[name]
