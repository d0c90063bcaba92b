"""Rows the stages hand to the catalog, and the outcome of each input.

Plain dataclasses rather than pydantic models: they are built in hot loops and never
parsed from untrusted JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pipeline.ids import derived_id
from pipeline.status import StatusCode

if TYPE_CHECKING:
    from pipeline.models import Annotation


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"


def add_job_of(run_id: str | None, job_id: str | None) -> str | None:
    """The add-job whose counts a request's inputs go to: its import run, else its job."""
    return run_id or job_id


@dataclass
class InputOutcome:
    """What happened to one input of a request."""

    index: int
    requested_id: str
    input_id: str
    action: Action
    code: StatusCode
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.action is not Action.FAILED

    def to_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies each field, a tenth of a batch's commit.
        return {
            "index": self.index,
            "requested_id": self.requested_id,
            "input_id": self.input_id,
            "action": self.action.value,
            "code": int(self.code),
            "message": self.message,
            "status": self.code.name,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputOutcome:
        return cls(
            index=d["index"],
            requested_id=d["requested_id"],
            input_id=d["input_id"],
            action=Action(d["action"]),
            code=StatusCode(d["code"]),
            message=d.get("message", ""),
        )


# The lineage columns of an input (besides `source`, its kind, and `job_id`), in the order
# `ingestd inputs get` shows them; a chunk inherits its parent's.
LINEAGE_FIELDS = ("run_id", "source_uri", "source_etag", "collector_id", "event_id")


@dataclass(frozen=True)
class Refusal:
    """An item an importer refused before the ingest stage (no readable file, a bad CSV
    cell, a bad id): recorded in the catalog so it counts as an error like any failed input."""

    key: str  # the item as the importer names it: a relative path, `file.csv:12`, an S3 URI
    input_id: str | None
    code: int
    message: str
    source: str
    run_id: str
    job_id: str | None = None
    source_uri: str | None = None
    source_etag: str | None = None


@dataclass(frozen=True)
class ExistingInput:
    input_id: str
    fingerprint: str
    status_code: int


@dataclass
class InputRecord:
    user_id: str
    app_id: str
    id: str
    media_type: str | None
    status_code: StatusCode
    status_message: str = ""
    format: str | None = None
    blob_key: str | None = None
    sha256: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    source_url: str | None = None
    concepts: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    geo: dict[str, Any] | None = None
    fingerprint: str = ""
    request_id: str = ""
    job_id: str | None = None
    source: str = "api"
    dataset_ids: list[str] = field(default_factory=list)
    # Lineage: the import run, where the bytes came from, the capture (a chunk's parent is
    # recorded by the media stage's chunk links).
    run_id: str | None = None
    source_uri: str | None = None
    source_etag: str | None = None
    collector_id: str | None = None
    event_id: str | None = None


@dataclass
class AnnotationRecord:
    id: str
    user_id: str
    app_id: str
    input_id: str
    annotation_user_id: str
    status: str
    data: dict[str, Any]
    task_id: str | None = None
    model_version_id: str | None = None
    annotation_info: dict[str, Any] = field(default_factory=dict)


def input_level_id(app_id: str, input_id: str) -> str:
    """The id of the annotation holding an input's own concepts."""
    return derived_id(app_id, input_id, "input-level")


def input_level_annotation(record: InputRecord, user_id: str) -> AnnotationRecord:
    """The annotation holding an input's own concepts (one per input, stable id)."""
    return AnnotationRecord(
        id=input_level_id(record.app_id, record.id),
        user_id=user_id,
        app_id=record.app_id,
        input_id=record.id,
        annotation_user_id=user_id,
        status="ANNOTATION_SUCCESS",
        data={"concepts": record.concepts},
    )


def sent_annotation(
    ann: Annotation,
    ann_id: str,
    record: InputRecord,
    user_id: str,
    data: dict[str, Any],
    info: dict[str, Any],
) -> AnnotationRecord:
    """An annotation sent with an input, stored on `record`; by `user_id` unless it names one."""
    return AnnotationRecord(
        id=ann_id,
        user_id=user_id,
        app_id=record.app_id,
        input_id=record.id,
        annotation_user_id=ann.user_id or user_id,
        status=ann.status.value,
        data=data,
        task_id=ann.task_id,
        model_version_id=ann.model_version_id,
        annotation_info=info,
    )
