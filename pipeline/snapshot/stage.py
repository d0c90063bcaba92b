"""The snapshot stage: what happens to a SnapshotRequest.

claim the version (64005 pending) → check dataset and filter → 64010 in progress → stream
the dataset's members from one consistent catalog read, filter their annotations, write the
manifest (temp file, hashed) and count metrics → upload manifest and exports → one catalog
update makes it 64015 ready. Bad requests end 64020 with the reason. Nothing a ready
version points at is ever rewritten: blob keys carry the content hash, and the final update
only applies to a version that is not ready yet. A crash leaves the version in progress;
the replayed request (same fields) runs it again and finishes it.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import InputError, TransientError
from pipeline.events import SnapshotRequest
from pipeline.ids import check_id, check_tenant, fingerprint
from pipeline.ports import BlobStore
from pipeline.snapshot.export import export_version, normalize_formats
from pipeline.snapshot.filter import (
    AnnotationSelector,
    FilterConfig,
    FilterConfigError,
    effective_config,
    is_empty_annotation,
)
from pipeline.snapshot.manifest import (
    ManifestWriter,
    manifest_key,
    manifest_line,
    version_prefix,
)
from pipeline.snapshot.metrics import MetricsCounter
from pipeline.snapshot.ports import ReadyVersion, VersionCatalog, VersionRow
from pipeline.stage import FollowUp
from pipeline.status import StatusCode

log = logging.getLogger(__name__)

PENDING = int(StatusCode.DATASET_VERSION_PENDING)
IN_PROGRESS = int(StatusCode.DATASET_VERSION_IN_PROGRESS)
READY = int(StatusCode.DATASET_VERSION_READY)
FAILURE = int(StatusCode.DATASET_VERSION_FAILURE)
UNEXPECTED = int(StatusCode.DATASET_VERSION_UNEXPECTED_ERROR)


class SnapshotFailed(Exception):
    """The request cannot make a version (terminal); the version records why."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class SnapshotResult:
    version: VersionRow
    replayed: bool = False
    follow_ups: list[FollowUp] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.version.status_code == READY


def request_fingerprint(request: SnapshotRequest) -> str:
    """Everything that shapes the version except the request id: a retry matches it."""
    return fingerprint(request.model_dump(mode="json", exclude={"request_id"}))


class SnapshotStage:
    """Turns SnapshotRequests into immutable dataset versions. Both transports call `handle`."""

    name = "snapshot"
    event_type = SnapshotRequest

    def __init__(self, blobs: BlobStore, catalog: VersionCatalog, page_size: int = 2000) -> None:
        self.blobs = blobs
        self.catalog = catalog
        self.page_size = page_size

    def handle(self, request: SnapshotRequest) -> SnapshotResult:
        check_tenant(request.user_id, request.app_id)
        check_id(request.dataset_id, "dataset id")
        check_id(request.version_id, "dataset version id")
        row = self.catalog.claim_version(_draft(request))
        if row.request_fingerprint != request_fingerprint(request):
            raise InputError(
                StatusCode.DATASET_VERSION_CONFLICT,
                f"dataset version {request.version_id!r} exists (dataset {row.dataset_id!r}, "
                "made by another request with other settings); choose a new version id, or "
                "repeat the original request unchanged to resume it",
            )
        if row.status_code == READY:
            return SnapshotResult(row, replayed=True)
        ids = (request.user_id, request.app_id, request.version_id)
        try:
            self._build(request)
        except SnapshotFailed as failed:
            log.info("version %s failed: %s", request.version_id, failed.message)
            self.catalog.mark_failed(*ids, failed.code, failed.message)
        except TransientError:
            raise  # stays in progress; the transport retries and the retry finishes it
        except Exception as exc:
            self._note_unexpected(ids, exc)
            raise
        final = self.catalog.get_version(*ids)
        assert final is not None
        return SnapshotResult(final)

    def _note_unexpected(self, ids: tuple[str, str, str], exc: Exception) -> None:
        message = (
            f"unexpected error: {type(exc).__name__}: {exc}; the request is retried, "
            "and repeating it unchanged resumes the version"
        )
        try:
            self.catalog.mark_failed(*ids, UNEXPECTED, message[:2000])
        except Exception:  # the catalog may be what failed; the retry will settle it
            log.exception("could not record the failure of version %s", ids[2])

    # -- building -----------------------------------------------------------------------

    def _build(self, request: SnapshotRequest) -> None:
        user, app, version_id = request.user_id, request.app_id, request.version_id
        exists, default = self.catalog.dataset_default_filter(user, app, request.dataset_id)
        if not exists:
            raise SnapshotFailed(
                f"dataset {request.dataset_id!r} does not exist in {user}/{app}; create it "
                f"(ingestd datasets create {request.dataset_id}) and add inputs first"
            )
        try:
            config = effective_config(request, default)
            formats = normalize_formats(request.export_formats)
        except (FilterConfigError, ValueError) as exc:
            raise SnapshotFailed(str(exc)) from None
        self.catalog.mark_in_progress(user, app, version_id, config.model_dump(mode="json"))
        prefix = version_prefix(user, app, request.dataset_id, version_id)
        with tempfile.TemporaryDirectory(prefix="ingestd-snapshot-") as tmp:
            path = Path(tmp) / "manifest.jsonl"
            writer, metrics = self._write_manifest(request, config, path)
            key = manifest_key(prefix, writer.content_hash)
            self.blobs.put_file(key, path)
            info = _version_info(request, config, metrics.to_dict(), writer.content_hash)
            exports: dict[str, Any] = {}
            for fmt in formats:
                exports[fmt] = export_version(
                    fmt, path, info, self.blobs, prefix, Path(tmp), include_media=True
                )
        ready = ReadyVersion(
            metrics=metrics.to_dict(),
            manifest_key=key,
            manifest_size=writer.size,
            content_hash=writer.content_hash,
            export_info=exports,
        )
        if not self.catalog.mark_ready(user, app, version_id, ready):
            log.info("version %s was made ready by another run meanwhile", version_id)

    def _write_manifest(
        self, request: SnapshotRequest, config: FilterConfig, path: Path
    ) -> tuple[ManifestWriter, MetricsCounter]:
        user, app = request.user_id, request.app_id
        selector = AnnotationSelector(config.annotation_filter)
        metrics = MetricsCounter()
        seen = 0
        with (
            self.catalog.read_dataset(user, app, request.dataset_id) as source,
            ManifestWriter(path) as writer,
        ):
            total = source.members_count()
            if total == 0:
                raise SnapshotFailed(
                    f"dataset {request.dataset_id!r} has no inputs; add inputs to it "
                    "(ingestd import ... --dataset ID) before making a version"
                )
            self.catalog.record_progress(user, app, request.version_id, 0, total)
            for member in source.members(self.page_size):
                seen += 1
                selected = selector.select(member.annotations)
                labeled = any(not is_empty_annotation(a["data"]) for a in selected)
                if labeled or not config.ignore_empty_inputs:
                    line = manifest_line(member, selected)
                    writer.write(line)
                    metrics.add(line, labeled)
                if seen % self.page_size == 0:
                    self.catalog.record_progress(user, app, request.version_id, seen, total)
        if writer.lines == 0:
            raise SnapshotFailed(
                f"none of the {seen} inputs of dataset {request.dataset_id!r} has an annotation "
                "the filter keeps, and ignore_empty_inputs leaves such inputs out: the version "
                "would be empty; loosen the filter or keep empty inputs"
            )
        self.catalog.record_progress(user, app, request.version_id, seen, total)
        return writer, metrics


def _draft(request: SnapshotRequest) -> VersionRow:
    return VersionRow(
        user_id=request.user_id,
        app_id=request.app_id,
        id=request.version_id,
        dataset_id=request.dataset_id,
        status_code=PENDING,
        description=request.description,
        metadata=request.metadata,
        request_origin=request.request_origin,
        request_id=request.request_id,
        request_fingerprint=request_fingerprint(request),
        export_formats=list(request.export_formats),
    )


def _version_info(
    request: SnapshotRequest, config: FilterConfig, metrics: dict[str, Any], content_hash: str
) -> dict[str, Any]:
    """What exports say about the version they came from."""
    return {
        "id": request.version_id,
        "dataset_id": request.dataset_id,
        "user_id": request.user_id,
        "app_id": request.app_id,
        "description": request.description,
        "request_origin": request.request_origin,
        "annotation_filter_config": config.model_dump(mode="json"),
        "metrics": metrics,
        "content_hash": content_hash,
    }
