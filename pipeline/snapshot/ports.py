"""What the snapshot stage needs from the catalog, as protocols (connectors implement them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pipeline.snapshot.manifest import SnapshotMember


@dataclass
class VersionRow:
    """A dataset version as stored in the catalog."""

    user_id: str
    app_id: str
    id: str
    dataset_id: str
    status_code: int
    status_message: str = ""
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    request_origin: str = "MANUAL"
    request_id: str = ""
    request_fingerprint: str = ""
    annotation_filter_config: dict[str, Any] | None = None
    export_formats: list[str] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    manifest_key: str | None = None
    manifest_size: int | None = None
    content_hash: str | None = None
    export_info: dict[str, Any] = field(default_factory=dict)
    progress: int = 0
    total: int | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        out = asdict(self)
        for key in ("created_at", "modified_at"):
            if out[key] is not None:
                out[key] = out[key].isoformat()
        try:
            from pipeline.status import StatusCode

            out["status"] = StatusCode(self.status_code).name
        except ValueError:
            out["status"] = str(self.status_code)
        return out


@dataclass
class ReadyVersion:
    """What a finished snapshot writes in its one final transaction."""

    metrics: dict[str, Any]
    manifest_key: str
    manifest_size: int
    content_hash: str
    export_info: dict[str, Any]


class SnapshotSource(Protocol):
    """A consistent read of one dataset's members, in input id order."""

    def members_count(self) -> int: ...
    def members(self, page_size: int) -> Iterator[SnapshotMember]: ...


class VersionCatalog(Protocol):
    """The catalog operations of the snapshot stage."""

    def dataset_default_filter(
        self, user_id: str, app_id: str, dataset_id: str
    ) -> tuple[bool, Any]:
        """(dataset exists, its stored default filter config or None)."""
        ...

    def claim_version(self, draft: VersionRow) -> VersionRow:
        """Insert the version as pending unless it exists; return the stored row."""
        ...

    def mark_in_progress(
        self, user_id: str, app_id: str, version_id: str, config: dict[str, Any]
    ) -> None: ...

    def record_progress(
        self, user_id: str, app_id: str, version_id: str, done: int, total: int
    ) -> None: ...

    def mark_ready(self, user_id: str, app_id: str, version_id: str, ready: ReadyVersion) -> bool:
        """Flip to ready with everything at once; False when it was ready already."""
        ...

    def mark_failed(
        self, user_id: str, app_id: str, version_id: str, code: int, message: str
    ) -> None:
        """Record a failure; never touches a ready version."""
        ...

    def get_version(self, user_id: str, app_id: str, version_id: str) -> VersionRow | None: ...

    def read_dataset(
        self, user_id: str, app_id: str, dataset_id: str
    ) -> AbstractContextManager[SnapshotSource]: ...
