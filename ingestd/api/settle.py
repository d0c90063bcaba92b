"""Waiting for an upload request to settle (its outcomes or its dead letter in the catalog).

On the embedded bus a waiter is woken as soon as its request is delivered (Runtime's
delivery listeners), so PostInputs answers right after the stage commits, without polling
the catalog in a loop; in front of Kafka workers it looks at the catalog at growing pauses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ingestd.api.deadline import wait_until
from ingestd.app.runtime import Runtime
from pipeline.events import DeadLetter
from pipeline.records import InputOutcome
from streams.delivery import Delivered

_PAUSES = (0.005, 0.25)  # first and longest pause between looks at the catalog

Settled = list[InputOutcome] | DeadLetter | None


class Settler:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._lock = threading.Lock()
        self._waiting: dict[str, threading.Event] = {}
        runtime.delivery_listeners.append(self._delivered)

    def _delivered(self, topic: str, done: Delivered) -> None:
        request_id = getattr(done.result, "request_id", None)
        if request_id is None and done.dead_letter is not None:
            request_id = done.dead_letter.event_id
        with self._lock:
            event = self._waiting.get(request_id or "")
        if event is not None:
            event.set()

    @contextmanager
    def expecting(self, request_id: str) -> Iterator[None]:
        """Listen for the request from before it is submitted until the wait is over."""
        with self._lock:
            self._waiting[request_id] = threading.Event()
        try:
            yield
        finally:
            with self._lock:
                self._waiting.pop(request_id, None)

    def wait(self, user: str, app: str, request_id: str, wait_s: float) -> Settled:
        """The request's outcomes (or its dead letter) once settled within `wait_s` (and the
        call's deadline), else None: still pending."""
        deadline = wait_until(wait_s)
        with self._lock:
            woken = self._waiting.get(request_id)
        pause = _PAUSES[0]
        while True:
            if woken is not None:
                woken.clear()  # a delivery from here on wakes the wait below
            done = self.rt.catalog.settled(user, app, [request_id]).get(request_id)
            if done is not None:
                return done
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if woken is not None:
                woken.wait(min(_PAUSES[1], left))
            else:
                time.sleep(min(pause, left))
                pause = min(pause * 2, _PAUSES[1])
