"""The deadline of the call being served (a gRPC client's per-RPC deadline), so waits inside
a method end before the client stops listening."""

from __future__ import annotations

import time
from contextvars import ContextVar

_DEADLINE: ContextVar[float | None] = ContextVar("ingestd_api_deadline", default=None)
_MARGIN_S = 0.2  # time left to send the answer


def set_remaining(seconds: float | None) -> None:
    """The call has `seconds` left (None: no deadline)."""
    _DEADLINE.set(None if seconds is None else time.monotonic() + seconds - _MARGIN_S)


def wait_until(wait_s: float) -> float:
    """The monotonic time a wait of `wait_s` must end by, within the call's deadline."""
    until = time.monotonic() + wait_s
    deadline = _DEADLINE.get()
    return until if deadline is None else min(until, deadline)
