"""Rows shared by the catalog's facets: an input record as a table row, and the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.records import InputRecord


def utc_now() -> datetime:
    """The catalog's timestamps: aware UTC."""
    return datetime.now(UTC)


def input_row(r: InputRecord, now: datetime) -> dict[str, Any]:
    """The `inputs` table row of a record (ingest and media stages write the same shape)."""
    return {
        "user_id": r.user_id,
        "app_id": r.app_id,
        "id": r.id,
        "media_type": r.media_type,
        "format": r.format,
        "status_code": int(r.status_code),
        "status_message": r.status_message,
        "blob_key": r.blob_key,
        "sha256": r.sha256,
        "size": r.size,
        "width": r.width,
        "height": r.height,
        "source_url": r.source_url,
        "concepts": r.concepts,
        "metadata": r.metadata,
        "geo": r.geo,
        "fingerprint": r.fingerprint,
        "request_id": r.request_id,
        "job_id": r.job_id,
        "source": r.source,
        "created_at": now,
        "modified_at": now,
    }
