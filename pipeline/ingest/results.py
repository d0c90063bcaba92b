"""What the ingest stage returns, and what it has prepared to commit."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.ingest.ports import UploadCommit
from pipeline.records import InputOutcome
from pipeline.stage import FollowUp


@dataclass
class IngestResult:
    request_id: str
    outcomes: list[InputOutcome]
    replayed: bool = False
    blobs_written: int = 0
    follow_ups: list[FollowUp] = field(default_factory=list)
    """Events for other stages (e.g. MediaTasks); the transport publishes them before acking."""

    @property
    def failed(self) -> list[InputOutcome]:
        return [o for o in self.outcomes if not o.ok]


@dataclass
class Prepared:
    """A request planned and its blobs written: the commit to make, the result it will have
    once committed, and the blob keys its records reference."""

    commit: UploadCommit
    result: IngestResult
    used: set[str]
