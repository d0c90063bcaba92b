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

STAGE_OF_TOPIC = {PREDICTIONS: "collect", UPLOADS: "ingest", MEDIA: "media", SNAPSHOTS: "snapshot"}
