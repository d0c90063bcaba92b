"""What the ingest stage needs from the catalog, as a protocol (connectors implement it)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from pipeline.records import AnnotationRecord, ExistingInput, InputOutcome, InputRecord


class IngestCatalog(Protocol):
    """The catalog operations the ingest stage uses."""

    def processed_outcomes(self, event_id: str) -> list[InputOutcome] | None: ...

    def existing_inputs(
        self, user_id: str, app_id: str, ids: Collection[str]
    ) -> dict[str, ExistingInput]: ...

    def commit_upload(
        self,
        event_id: str,
        inputs: list[InputRecord],
        annotations: list[AnnotationRecord],
        outcomes: list[InputOutcome],
    ) -> None:
        """Records, dataset memberships and the processed event id, in one transaction."""
        ...
