"""What the stages need from the outside world, as protocols.

`connectors/` implements these (local directory, S3, SQLite, PostgreSQL, HTTP); tests can
pass the real ones. Keeping them here is what lets `pipeline/` import no driver.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from pipeline.chunking.records import ChunkLink, MediaParent
from pipeline.records import AnnotationRecord, ExistingInput, InputOutcome, InputRecord


class BlobStore(Protocol):
    """Objects by key. Writes are idempotent: the same key always holds the same bytes."""

    def put(self, key: str, data: bytes) -> None: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def get(self, key: str) -> bytes: ...
    def download(self, key: str, path: Path) -> None: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int | None: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str = "") -> Iterator[str]: ...
    def describe(self) -> str: ...


class Fetcher(Protocol):
    """Downloads a URL under the SSRF guard and size/time limits; raises InputError."""

    def fetch(self, url: str, max_bytes: int) -> bytes: ...


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

    def commit_upload(
        self,
        user_id: str,
        app_id: str,
        event_id: str,
        inputs: list[InputRecord],
        annotations: list[AnnotationRecord],
        outcomes: list[InputOutcome],
        refused: Sequence[InputOutcome] = (),
    ) -> None:
        """Records, memberships, refused ids and the processed event id, in one transaction."""
        ...


class MediaCatalog(Protocol):
    """The catalog operations of the media stage (and the ingest stage's re-emission)."""

    def media_parents(
        self, user_id: str, app_id: str, ids: Collection[str]
    ) -> dict[str, MediaParent]: ...

    def commit_chunks(
        self,
        task_id: str,
        parent: MediaParent,
        chunks: list[tuple[InputRecord, ChunkLink]],
        annotations: list[AnnotationRecord],
        summary: dict[str, object],
    ) -> list[str]:
        """Chunks, their annotations and memberships, the parent's new status, in one transaction.

        Returns ids that belong to other inputs (nothing is written then).
        """
        ...

    def fail_media(self, task_id: str, parent: MediaParent, code: int, message: str) -> None: ...

    def forget_chunks(self, user_id: str, app_id: str, parent_ids: Collection[str]) -> None:
        """Remove the chunks of parents whose content was replaced by a medium within limits."""
        ...
