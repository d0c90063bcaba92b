"""Crashes and failures mid-snapshot: a version ends ready or failed, never half-written.

A "crash" is a BaseException raised from inside the real blob store or catalog at a chosen
point: nothing of the stage runs after it, as when the process dies there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.catalog.versions import VersionCatalog
from ingestd.app.runtime import Runtime
from pipeline.errors import TransientError
from pipeline.events import SnapshotRequest, UploadRequest
from pipeline.models import Data, Input, Media
from pipeline.snapshot.stage import SnapshotStage
from pipeline.status import StatusCode
from tests.support.snapshots import DATASET, seed, snapshot
from tests.support.storage import image_bytes


class Crash(BaseException):
    """The process dies here."""


class FailingBlobs:
    """The real blob store, except that put_file of keys containing `marker` raises."""

    def __init__(self, inner: Any, marker: str, error: BaseException) -> None:
        self.inner, self.marker, self.error = inner, marker, error

    def put_file(self, key: str, path: Path) -> None:
        if self.marker in key:
            raise self.error
        self.inner.put_file(key, path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CrashAfterFirstPage(VersionCatalog):
    """The real catalog, dying while the second page of inputs is being read."""

    def record_progress(
        self, user_id: str, app_id: str, version_id: str, done: int, total: int
    ) -> None:
        if done >= 2:
            raise Crash()
        super().record_progress(user_id, app_id, version_id, done, total)


def request(rt: Runtime, version_id: str, **kw: Any) -> SnapshotRequest:
    s = rt.settings
    return SnapshotRequest(
        user_id=s.user_id, app_id=s.app_id, dataset_id=DATASET, version_id=version_id, **kw
    )


def row(rt: Runtime, version_id: str) -> Any:
    s = rt.settings
    return rt.catalog.versions.get_version(s.user_id, s.app_id, version_id)


@pytest.mark.parametrize(
    "where", ["reading the dataset", "uploading the manifest", "uploading an export"]
)
def test_a_crash_leaves_the_version_unfinished_and_the_replay_finishes_it(
    runtime: Runtime, where: str
) -> None:
    seed(runtime)
    clean = snapshot(runtime, "clean", export_formats=["coco"]).version
    req = request(runtime, "crashy", export_formats=["coco"])
    store: VersionCatalog = runtime.catalog.versions
    blobs: Any = runtime.blobs
    if where == "reading the dataset":
        store = CrashAfterFirstPage(runtime.catalog)
    else:
        blobs = FailingBlobs(
            runtime.blobs, "manifest" if "manifest" in where else "export", Crash()
        )
    with pytest.raises(Crash):
        SnapshotStage(blobs, store, page_size=2).handle(req)

    half = row(runtime, "crashy")
    assert half.status_code == StatusCode.DATASET_VERSION_IN_PROGRESS
    assert (half.metrics, half.content_hash, half.manifest_key, half.export_info) == (
        None,
        None,
        None,
        {},
    )

    done = runtime.snapshot.handle(req)  # the transport redelivers the same request
    assert not done.replayed
    v = done.version
    assert v.status_code == StatusCode.DATASET_VERSION_READY
    assert v.content_hash == clean.content_hash and v.metrics == clean.metrics
    assert v.export_info["COCO"]["status"]["code"] == StatusCode.DATA_DUMP_EXPORT_SUCCESS
    assert runtime.blobs.exists(v.export_info["COCO"]["url"])


@pytest.mark.parametrize(
    "storage", ["sqlite-local", "postgres-s3", "sqlite-versitygw"], indirect=True
)
def test_transient_failures_keep_it_in_progress_and_bugs_mark_it_failed(runtime: Runtime) -> None:
    seed(runtime)
    req = request(runtime, "v")
    flaky = FailingBlobs(runtime.blobs, "manifest", TransientError("S3 is down"))
    with pytest.raises(TransientError):
        SnapshotStage(flaky, runtime.catalog.versions).handle(req)
    assert row(runtime, "v").status_code == StatusCode.DATASET_VERSION_IN_PROGRESS

    buggy = FailingBlobs(runtime.blobs, "manifest", RuntimeError("boom"))
    with pytest.raises(RuntimeError):
        SnapshotStage(buggy, runtime.catalog.versions).handle(req)
    failed = row(runtime, "v")
    assert failed.status_code == StatusCode.DATASET_VERSION_UNEXPECTED_ERROR
    assert "RuntimeError: boom" in failed.status_message

    assert runtime.snapshot.handle(req).version.status_code == StatusCode.DATASET_VERSION_READY


@pytest.mark.parametrize("storage", ["sqlite-local", "postgres-local"], indirect=True)
def test_the_snapshot_reads_one_consistent_state(runtime: Runtime) -> None:
    seed(runtime)
    s = runtime.settings
    store = runtime.catalog.versions
    with store.read_dataset(s.user_id, s.app_id, DATASET) as source:
        members = source.members(page_size=2)
        first = [next(members).input["id"], next(members).input["id"]]
        # Another writer adds an input at the end of the dataset mid-read.
        late = Input(id="zz-late", data=Data(image=Media(base64=image_bytes("PNG", color="gray"))))
        assert not runtime.ingest.handle(UploadRequest(inputs=[late], dataset_ids=[DATASET])).failed
        rest = [m.input["id"] for m in members]
        assert source.members_count() == 5
    assert first + rest == ["img-a", "img-b", "img-c", "img-d", "txt-e"]
    after = snapshot(runtime, "after").version
    assert after.metrics and after.metrics["inputs_count"] == 6
