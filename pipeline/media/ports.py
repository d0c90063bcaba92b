"""What the media stage needs from the catalog, as a protocol (connectors implement it)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from pipeline.media.chunking.records import ChunkLink, MediaParent
from pipeline.records import AnnotationRecord, InputRecord


@dataclass(frozen=True)
class ChunkCommit:
    """All one split writes: committed together, or not at all."""

    task_id: str
    parent: MediaParent
    chunks: list[tuple[InputRecord, ChunkLink]]
    annotations: list[AnnotationRecord]
    summary: dict[str, object]


class MediaCatalog(Protocol):
    """The catalog operations of the media stage (and the ingest stage's re-emission)."""

    def media_parents(
        self, user_id: str, app_id: str, ids: Collection[str]
    ) -> dict[str, MediaParent]: ...

    def commit_chunks(self, split: ChunkCommit) -> list[str]:
        """Chunks, their annotations and memberships, the parent's new status, in one transaction.

        Returns ids that belong to other inputs (nothing is written then).
        """
        ...

    def fail_media(self, task_id: str, parent: MediaParent, code: int, message: str) -> None: ...

    def forget_chunks(self, user_id: str, app_id: str, parent_ids: Collection[str]) -> None:
        """Remove the chunks of parents whose content was replaced by a medium within limits."""
        ...
