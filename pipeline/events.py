"""The events that flow between stages (../shared/DESIGN.md, "Events and topics").

Every event is JSON on the wire; `ingestd schema` prints these models' JSON Schemas so
services in any language can produce them.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, model_validator

from pipeline.models import (
    Annotation,
    Concept,
    ConflictResolution,
    Input,
    Media,
    Region,
    RequestOrigin,
    Strict,
    Text,
)
from pipeline.status import StatusCode


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class UploadRequest(Strict):
    """Inputs to add to an app: from services, importers and S3 drop zones."""

    request_id: str = Field(
        default="",
        max_length=64,
        description="Idempotency key of the request, scoped to its user and app: another app "
        "may use the same id. When absent it is derived from the request's content, so every "
        "delivery of the same message has the same id (and the same derived input ids).",
    )
    user_id: str = "me"
    app_id: str = "main"
    inputs: list[Input]
    dataset_ids: list[str] = Field(
        default_factory=list, description="Datasets every input of the request is added to."
    )
    conflict_resolution: ConflictResolution = ConflictResolution.SKIP
    job_id: str | None = None
    source: str = Field(default="api", description="Who sent it: api, folder, csv, s3, collector.")
    run_id: str | None = Field(
        default=None, max_length=64, description="The import run that sent it (lineage)."
    )
    created_at: datetime = Field(default_factory=_now)

    @model_validator(mode="after")
    def _content_request_id(self) -> UploadRequest:
        # Not random: a redelivered message (worker killed before its commit, offsets reset)
        # must be recognised as a replay, not stored a second time.
        if not self.request_id:
            unset = set() if "created_at" in self.model_fields_set else {"created_at"}
            content = self.model_dump_json(exclude={"request_id", *unset})
            self.request_id = hashlib.sha256(content.encode()).hexdigest()[:32]
        return self


class ModelRef(Strict):
    user_id: str
    app_id: str
    model_id: str
    version_id: str


class ModelOutput(Strict):
    concepts: list[Concept] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)
    text: Text | None = None


class PredictionEvent(Strict):
    """A model predicted on an input; collectors decide whether to capture it."""

    event_id: str = Field(default_factory=_new_id, max_length=64)
    time: datetime = Field(default_factory=_now)
    caller_user_id: str
    model: ModelRef
    input_type: str = "image"
    input: Media | Text
    outputs: ModelOutput = Field(default_factory=ModelOutput)
    metadata: dict[str, Any] = Field(default_factory=dict)
    collector_ids: list[str] = Field(
        default_factory=list,
        description="Only these collectors (user/app/collector); empty: every matching one. "
        "Set on a capture's dead letter, so replaying it redoes that capture only.",
    )


class AnnotationFilter(Strict):
    """Which annotations of a dataset's inputs a version keeps (empty list = no restriction)."""

    statuses: list[str] = Field(
        default_factory=list, description="Annotation statuses kept, e.g. ANNOTATION_SUCCESS."
    )
    user_ids: list[str] = Field(
        default_factory=list, description="Only annotations by these users (labelers)."
    )
    model_version_ids: list[str] = Field(
        default_factory=list,
        description="Predictions kept only from these model versions (ground truth unaffected).",
    )
    ground_truth_only: bool = Field(False, description="Drop predictions (model-written).")
    predictions_only: bool = Field(False, description="Drop ground truth (human-written).")


class SnapshotRequest(Strict):
    """Freeze a dataset into an immutable version."""

    request_id: str = Field(default_factory=_new_id, max_length=64)
    user_id: str = "me"
    app_id: str = "main"
    dataset_id: str
    version_id: str = Field(default_factory=_new_id)
    description: str = ""
    annotation_filter: AnnotationFilter | None = Field(
        None, description="Overrides the dataset's default filter for this version."
    )
    ignore_empty_inputs: bool | None = Field(
        None, description="Leave out inputs without a selected annotation (None: dataset default)."
    )
    export_formats: list[str] = Field(default_factory=list)
    request_origin: RequestOrigin = "MANUAL"
    metadata: dict[str, Any] = Field(default_factory=dict)


class MediaTask(Strict):
    """Internal: an oversized input the media stage splits, tiles or downscales."""

    task_id: str = Field(default_factory=_new_id)
    user_id: str
    app_id: str
    input_id: str
    media_type: str
    blob_key: str
    annotations: list[Annotation] = Field(default_factory=list)
    dataset_ids: list[str] = Field(default_factory=list)


class DeadLetter(Strict):
    """An event a stage could not process at all, with where it came from and why."""

    dead_letter_id: str = Field(default_factory=_new_id)
    event_id: str | None = Field(
        None, description="request_id / event_id of the event, if readable."
    )
    stage: str
    code: StatusCode
    message: str
    attempts: int = 1
    origin_topic: str
    origin_partition: int | None = None
    origin_offset: int | None = None
    origin_key: str | None = None
    event: dict[str, Any] = Field(description="The original event, as received.")
    failed_at: datetime = Field(default_factory=_now)
