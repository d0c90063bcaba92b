"""What a batch of upload requests costs the stores: the catalog statements of a batch do not
grow with its number of requests (one look-up for all of them, multi-row writes), and the
blob writes of its requests run side by side instead of one request after the other."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event

from ingestd.app.runtime import Runtime
from pipeline.events import UploadRequest
from pipeline.ingest.stage import IngestResult, IngestStage
from pipeline.models import Concept, Data, Input, Text
from pipeline.records import Action

WAIT = 20  # seconds a blob write waits for the others of its batch before going on alone


def _requests(tag: str, n: int) -> list[UploadRequest]:
    return [
        UploadRequest(
            request_id=f"{tag}-{i}",
            inputs=[
                Input(
                    id=f"{tag}-{i}",
                    data=Data(text=Text(raw=f"{tag} {i}"), concepts=[Concept(id="cat")]),
                )
            ],
            dataset_ids=["ds"],
        )
        for i in range(n)
    ]


def _statements(rt: Runtime, stage: IngestStage, requests: list[UploadRequest]) -> int:
    count = 0

    def seen(*_args: Any) -> None:
        nonlocal count
        count += 1

    event.listen(rt.catalog.engine, "before_cursor_execute", seen)
    try:
        results = stage.handle_batch(requests)
    finally:
        event.remove(rt.catalog.engine, "before_cursor_execute", seen)
    assert all(isinstance(r, IngestResult) for r in results), "every request in the batch"
    assert all(r is not None and r.outcomes[0].action is Action.CREATED for r in results)
    return count


def test_a_batch_costs_the_same_statements_for_4_requests_as_for_32(embedded: Runtime) -> None:
    stage = embedded.ingest
    stage.handle_batch(_requests("warm", 2))  # the dataset exists, statements are compiled
    small = _statements(embedded, stage, _requests("small", 4))
    large = _statements(embedded, stage, _requests("large", 32))
    assert large == small, f"{small} statements for 4 requests, {large} for 32"
    stored = embedded.catalog.input_counts("me", "main")["processed"]
    assert stored == 2 + 4 + 32


class _MeetingBlobs:
    """The real blob store, whose writes each wait (bounded) until `n` are under way at
    once, and which records the most that ever were."""

    def __init__(self, real: Any, n: int) -> None:
        self._real = real
        self._meet = threading.Barrier(n)
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        try:
            self._meet.wait(WAIT)
        except threading.BrokenBarrierError:
            pass  # they never met: written alone (`most` tells)
        finally:
            with self._lock:
                self._now -= 1
        self._real.put(key, data)

    def put_file(self, key: str, path: Path) -> None:
        self._real.put_file(key, path)


def test_the_blob_writes_of_a_batch_run_side_by_side(embedded: Runtime) -> None:
    blobs = _MeetingBlobs(embedded.blobs, 4)
    stage = IngestStage(blobs, embedded.catalog, embedded.fetcher, blob_concurrency=8)  # type: ignore[arg-type]
    try:
        results = stage.handle_batch(_requests("side", 4))
    finally:
        stage.close()
    assert blobs.most == 4, f"at most {blobs.most} of the batch's 4 blob writes at once"
    assert all(r is not None and r.outcomes[0].action is Action.CREATED for r in results)
    rows = embedded.catalog.list_inputs("me", "main", limit=10)
    assert sorted(embedded.blobs.get(r["blob_key"]).decode() for r in rows) == [
        f"side {i}" for i in range(4)
    ]
