"""A stage made of a plain function, for transport tests that need a stage's behaviour only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.stage import FollowUp


@dataclass
class Result:
    value: Any = None
    follow_ups: list[FollowUp] = field(default_factory=list)


@dataclass
class FunctionStage:
    """`fn(event)` as a stage named `name` taking `event_type` (no follow-ups)."""

    name: str
    event_type: type
    fn: Callable[[Any], Any]

    def handle(self, event: Any) -> Result:
        return Result(self.fn(event))
