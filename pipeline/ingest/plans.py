"""The ingest stage's decision for one input (pipeline/ingest/stage.py makes them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.events import MediaTask, UploadRequest
from pipeline.ingest.inputs import PreparedInput
from pipeline.ingest.media_tasks import media_task
from pipeline.ingest.ports import ReplacedAnnotations
from pipeline.models import Input
from pipeline.records import Action, AnnotationRecord, ExistingInput, InputOutcome, InputRecord
from pipeline.status import StatusCode


@dataclass
class Plan:
    """The decision for one input: which id, what to write, what to report."""

    outcome: InputOutcome
    record: InputRecord | None = None
    data: bytes | None = None
    annotations: list[AnnotationRecord] = field(default_factory=list)
    path: Path | None = None  # a large original in the work directory, uploaded from there
    task: MediaTask | None = None  # oversized: what the media stage gets
    refused: bool = False  # failed for an id the catalog cannot hold: listed apart
    replaces: ReplacedAnnotations | None = None  # an update: what the earlier upload brought


def pending_plan(
    request: UploadRequest,
    index: int,
    item: Input,
    requested_id: str,
    ready: PreparedInput,
    prior: ExistingInput | None,
) -> Plan:
    """An oversized input: stored whole as pending; its annotations travel with the task."""
    record = ready.record
    assert record.blob_key is not None and record.media_type is not None
    record.status_code = StatusCode.INPUT_PENDING
    record.status_message = f"{ready.oversized}; queued for the media stage"
    task = media_task(
        request.user_id,
        request.app_id,
        record.id,
        record.media_type,
        record.blob_key,
        item.annotations,
        record.dataset_ids,
    )
    if prior is not None and prior.fingerprint == record.fingerprint:
        code = StatusCode(prior.status_code)
        outcome = InputOutcome(index, requested_id, record.id, Action.UNCHANGED, code)
        # Still pending: hand the task on again (the first one may have been lost).
        return Plan(outcome, record=record, task=task if code == StatusCode.INPUT_PENDING else None)
    action = Action.UPDATED if prior is not None else Action.CREATED
    outcome = InputOutcome(
        index, requested_id, record.id, action, StatusCode.INPUT_PENDING, record.status_message
    )
    return Plan(outcome, record=record, data=ready.data, path=ready.path, task=task)
