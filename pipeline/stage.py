"""The stage contract: the one shape every stage has, which both transports call.

A stage takes one kind of event (`event_type`) and returns a `StageResult` whose
`follow_ups` are events for other stages. The transport publishes the follow-ups, routed by
their type through `pipeline.topics`, only after the stage's own writes are committed, and
acknowledges the event last. A stage raises `TransientError` for what a retry can fix and
returns failures (or raises `InputError`) for what it cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from pipeline.events import MediaTask, PredictionEvent, SnapshotRequest, UploadRequest

FollowUp = PredictionEvent | UploadRequest | MediaTask | SnapshotRequest
"""An event a stage hands on to another stage."""

E = TypeVar("E", contravariant=True)


class StageResult(Protocol):
    """What a stage returns: at least the follow-up events to publish after its commit."""

    @property
    def follow_ups(self) -> Sequence[FollowUp]: ...


class Stage(Protocol[E]):
    """A stage: its name (metrics, dead letters), the event it takes, and `handle`."""

    name: str

    @property
    def event_type(self) -> type: ...

    def handle(self, event: E) -> StageResult: ...
