"""What the media stage reads from and writes to the catalog about a parent and its chunks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class MediaParent:
    """An input stored whole and waiting (or done) for the media stage."""

    user_id: str
    app_id: str
    id: str
    media_type: str
    format: str | None
    status_code: int
    blob_key: str
    sha256: str
    size: int
    fingerprint: str
    concepts: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    geo: dict[str, Any] | None = None
    request_id: str = ""
    job_id: str | None = None
    source: str = "api"
    lineage: dict[str, Any] = field(default_factory=dict)  # records.LINEAGE_FIELDS


@dataclass(frozen=True)
class ChunkLink:
    """Where a chunk input sits in its parent (catalog columns of the chunk's row)."""

    parent_input_id: str
    chunk_index: int
    chunk_count: int
    start_ms: int | None = None
    end_ms: int | None = None
    start_offset: int | None = None
    end_offset: int | None = None
