"""Two workers racing for one new input id end as if they had run one after the other.

Two ingest stages with their own catalog connections and blob stores (two workers) handle
requests for the same new ids with different content. Each pair is made to race for
certain: both stages plan their request (both see the id free) before either commits. The
catalog decides: under SKIP one input per id, the loser reports the duplicate; under
SUFFIX both are kept; every outcome says what the catalog holds; no blob is left that no
input references.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.catalog import schema as t
from connectors.gc import collect_garbage
from ingestd.app.runtime import Runtime
from pipeline.events import UploadRequest
from pipeline.ids import blob_key
from pipeline.ingest.ports import UploadCommit
from pipeline.models import ConflictResolution, Data, Input, Text
from pipeline.records import Action
from pipeline.status import StatusCode
from tests.support.storage import make_settings

PAIRS = 200
LATER = datetime.now(UTC) + timedelta(days=2)  # gc as if every blob were old
WAIT = 60  # seconds a racer waits for its partner before the test fails


class _RacingCatalog:
    """The real catalog, except that a request's first commit waits for its partner's."""

    def __init__(self, catalog: Any, gates: dict[str, threading.Barrier]) -> None:
        self._catalog = catalog
        self._gates = gates
        self._seen: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)

    def commit_upload(self, upload: UploadCommit) -> None:
        gate = self._gates.get(upload.event_id)
        if gate is not None and upload.event_id not in self._seen:
            self._seen.add(upload.event_id)
            gate.wait(WAIT)  # both have planned: both saw the id free
        self._catalog.commit_upload(upload)


@pytest.fixture(params=["sqlite", "postgres"])
def workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Runtime]]:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    settings = make_settings(tmp_path, request.param, "local", request)
    runtimes = [Runtime.open(settings), Runtime.open(settings)]
    try:
        yield runtimes
    finally:
        for rt in runtimes:
            rt.close()


def _request(pair: int, side: str, mode: ConflictResolution) -> UploadRequest:
    text = Text(raw=f"pair {pair} written by {side}")
    return UploadRequest(
        request_id=f"r{pair}{side}",
        app_id="race",
        inputs=[Input(id=f"x{pair}", data=Data(text=text))],
        conflict_resolution=mode,
    )


def _race(workers: list[Runtime], mode: ConflictResolution, pairs: int = PAIRS) -> dict[str, Any]:
    requests = {side: [_request(i, side, mode) for i in range(pairs)] for side in ("a", "b")}
    gates = {f"r{i}{s}": threading.Barrier(2) for i in range(pairs) for s in "ab"}
    for i in range(pairs):  # one barrier per pair, shared by its two requests
        gates[f"r{i}b"] = gates[f"r{i}a"]
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run(worker: Runtime, side: str) -> None:
        worker.ingest.catalog = _RacingCatalog(worker.catalog, gates)
        try:
            for req in requests[side]:
                results[req.request_id] = worker.ingest.handle(req)
        except BaseException as exc:  # reported below, with the pair it happened in
            errors.append(exc)
            for gate in gates.values():
                gate.abort()

    threads = [
        threading.Thread(target=run, args=(w, s)) for w, s in zip(workers, "ab", strict=True)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(WAIT * 4)
    assert not errors, errors[0]
    assert len(results) == 2 * pairs
    return results


def _stored(rt: Runtime) -> dict[str, str]:
    c = t.inputs.c
    with rt.catalog.begin() as conn:
        rows = conn.execute(select(c.id, c.sha256).where(c.app_id == "race")).all()
    return {r[0]: r[1] for r in rows}


def _sha(pair: int, side: str) -> str:
    return hashlib.sha256(f"pair {pair} written by {side}".encode()).hexdigest()


def _key(pair: int, side: str) -> str:
    return blob_key("me", "race", _sha(pair, side), "txt")


def _assert_no_orphan_blobs(rt: Runtime) -> None:
    """Every stored input has its blob; a loser's blob is left to `ingestd gc` (removing it
    inline could race a third request committing the same bytes), which then removes it."""
    c = t.inputs.c
    with rt.catalog.begin() as conn:
        referenced = set(conn.execute(select(c.blob_key)).scalars())
    assert referenced <= set(rt.blobs.keys("media/")), "an input lost its blob"
    collect_garbage(rt.catalog, rt.blobs, grace=timedelta(hours=1), now=LATER)
    assert set(rt.blobs.keys("media/")) == referenced


def test_skip_races_keep_one_input_and_report_the_other_skipped(workers: list[Runtime]) -> None:
    results = _race(workers, ConflictResolution.SKIP)
    stored = _stored(workers[0])
    assert len(stored) == PAIRS
    for i in range(PAIRS):
        a, b = results[f"r{i}a"].outcomes[0], results[f"r{i}b"].outcomes[0]
        assert sorted([a.action, b.action]) == [Action.CREATED, Action.SKIPPED], (i, a, b)
        winner, loser = (a, b) if a.action is Action.CREATED else (b, a)
        assert loser.code == StatusCode.DATABASE_DUPLICATE_KEY
        side = "a" if winner is a else "b"
        assert stored[f"x{i}"] == _sha(i, side), f"pair {i}: {side} reported created, not stored"
    _assert_no_orphan_blobs(workers[0])


def test_suffix_races_keep_both_inputs(workers: list[Runtime]) -> None:
    results = _race(workers, ConflictResolution.SUFFIX)
    stored = _stored(workers[0])
    assert len(stored) == 2 * PAIRS
    for i in range(PAIRS):
        got = {}
        for side in "ab":
            outcome = results[f"r{i}{side}"].outcomes[0]
            assert outcome.action is Action.CREATED, (i, side, outcome)
            got[outcome.input_id] = side
            assert stored[outcome.input_id] == _sha(i, side), (i, side, outcome)
        assert set(got) == {f"x{i}", f"x{i}-1"}
    _assert_no_orphan_blobs(workers[0])


def test_a_loser_leaves_a_blob_alone_that_was_there_before(workers: list[Runtime]) -> None:
    # A blob no input references may still be a ready version's or a dead letter's: a
    # losing request removes nothing.
    pairs = 20
    for i in range(pairs):
        for side in "ab":
            workers[0].blobs.put(_key(i, side), f"pair {i} written by {side}".encode())
    results = _race(workers, ConflictResolution.SKIP, pairs)
    skipped = [r for r in results.values() if r.outcomes[0].action is Action.SKIPPED]
    assert len(skipped) == pairs
    assert set(workers[0].blobs.keys("media/")) == {_key(i, s) for i in range(pairs) for s in "ab"}


def test_one_request_on_two_workers_at_once_is_stored_once(workers: list[Runtime]) -> None:
    # A redelivery racing the first delivery (a rebalance): the second commit finds the
    # request processed and reports what the first stored.
    req = _request(0, "a", ConflictResolution.SUFFIX)
    gate = threading.Barrier(2)
    results: list[Any] = []

    def run(worker: Runtime) -> None:
        worker.ingest.catalog = _RacingCatalog(worker.catalog, {req.request_id: gate})
        results.append(worker.ingest.handle(req))

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(WAIT)
    assert len(results) == 2
    assert sorted(r.replayed for r in results) == [False, True]
    assert [r.outcomes for r in results][0] == [r.outcomes for r in results][1]
    assert _stored(workers[0]) == {"x0": _sha(0, "a")}
    _assert_no_orphan_blobs(workers[0])
