"""Topic names of the design, and which event each carries."""

from __future__ import annotations

from pipeline.events import DeadLetter, MediaTask, PredictionEvent, SnapshotRequest, UploadRequest
from pipeline.models import Strict

PREDICTIONS = "ingestd.predictions"
UPLOADS = "ingestd.uploads"
MEDIA = "ingestd.media"
SNAPSHOTS = "ingestd.snapshots"
DEADLETTER = "ingestd.deadletter"

EVENT_OF_TOPIC: dict[str, type[Strict]] = {
    PREDICTIONS: PredictionEvent,
    UPLOADS: UploadRequest,
    MEDIA: MediaTask,
    SNAPSHOTS: SnapshotRequest,
    DEADLETTER: DeadLetter,
}

# Follow-up events a stage returns are routed by their type.
TOPIC_OF_EVENT: dict[type[Strict], str] = {
    PredictionEvent: PREDICTIONS,
    UploadRequest: UPLOADS,
    MediaTask: MEDIA,
    SnapshotRequest: SNAPSHOTS,
}


def topic_for(event: object) -> str:
    try:
        return TOPIC_OF_EVENT[type(event)]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"no topic carries {type(event).__name__} events") from None


def key_for(event: object) -> str | None:
    """The ordering key of an event, as the design's topic table says."""
    if isinstance(event, PredictionEvent):
        return event.model.version_id
    if isinstance(event, UploadRequest):
        return event.app_id
    if isinstance(event, MediaTask):
        return event.input_id
    if isinstance(event, SnapshotRequest):
        return event.dataset_id
    return None


STAGE_OF_TOPIC = {PREDICTIONS: "collect", UPLOADS: "ingest", MEDIA: "media", SNAPSHOTS: "snapshot"}
