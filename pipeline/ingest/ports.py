"""What the ingest stage needs from the catalog, as a protocol (connectors implement it)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.errors import TransientError
from pipeline.records import AnnotationRecord, ExistingInput, InputOutcome, InputRecord


class InputsChanged(TransientError):
    """Another worker wrote one of the request's input ids (or the request) since it was
    planned: nothing was committed; plan again against what the catalog holds now."""


@dataclass(frozen=True)
class ReplacedAnnotations:
    """An updated input's annotations the new upload replaces: those by `users` (the
    uploader and every user its annotations name), except the ones it sends again."""

    input_id: str
    users: frozenset[str]


@dataclass(frozen=True)
class UploadCommit:
    """All one request writes: committed together, or not at all."""

    user_id: str
    app_id: str
    event_id: str
    inputs: list[InputRecord]
    annotations: list[AnnotationRecord]
    outcomes: list[InputOutcome]
    refused: Sequence[InputOutcome] = ()
    expected: Mapping[str, str | None] = field(default_factory=dict)
    """What the plan saw: each input id's fingerprint then (None: no such input). An id
    holding anything else at commit time fails the commit with InputsChanged; ids not
    listed are written as they are."""
    replaced: Sequence[ReplacedAnnotations] = ()
    add_job: str | None = None
    """The add-job whose counts the outcomes go to (pipeline.records.add_job_of)."""


@dataclass(frozen=True)
class Known:
    """What the catalog holds for some requests of one app, read together: the outcomes of
    those already processed, and the inputs among the ids they may write."""

    processed: Mapping[str, list[InputOutcome]]
    existing: Mapping[str, ExistingInput]


class IngestCatalog(Protocol):
    """The catalog operations the ingest stage uses."""

    def processed_outcomes(
        self, user_id: str, app_id: str, event_id: str
    ) -> list[InputOutcome] | None:
        """The outcomes of a request this app already processed (request ids are per app)."""
        ...

    def existing_inputs(
        self, user_id: str, app_id: str, ids: Collection[str]
    ) -> dict[str, ExistingInput]: ...

    def known(
        self, user_id: str, app_id: str, event_ids: Collection[str], input_ids: Collection[str]
    ) -> Known:
        """`processed_outcomes` of several requests and `existing_inputs` at once."""
        ...

    def commit_upload(self, upload: UploadCommit) -> None:
        """Records, memberships, refused ids, the annotations updates replace and the
        processed event id, in one transaction; InputsChanged (nothing written) when the
        event or an expected id changed meanwhile."""
        ...

    def commit_uploads(self, uploads: Sequence[UploadCommit]) -> None:
        """Several requests' commits in one transaction: all of them, or (raising as
        `commit_upload` does for any one of them) none."""
        ...
