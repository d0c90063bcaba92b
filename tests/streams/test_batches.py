"""Batches per transaction on the embedded bus: one catalog transaction for what a worker
takes at once; one event's failure neither holds nor loses the others; an outage retries the
batch whole; requests for one id stay in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.gc import collect_garbage
from ingestd.app.runtime import Runtime
from pipeline.errors import TransientError
from pipeline.events import UploadRequest
from pipeline.ingest.ports import UploadCommit
from pipeline.ingest.stage import IngestResult, IngestStage
from pipeline.limits import Limits
from pipeline.models import ConflictResolution, Data, Input, Text
from pipeline.records import Action
from pipeline.status import StatusCode
from pipeline.topics import UPLOADS
from streams.bus import EmbeddedBus
from streams.delivery import Delivered, RetryPolicy

LATER = datetime.now(UTC) + timedelta(days=2)  # gc as if every blob were old
POLICY = RetryPolicy(min_backoff=0.01, max_backoff=0.05)


class _Catalog:
    """The real catalog, recording each commit (and running `hook` before it)."""

    def __init__(self, real: Any, hook: Callable[[Sequence[UploadCommit]], None]) -> None:
        self._real = real
        self._hook = hook
        self.batches: list[list[str]] = []  # event ids of each commit_uploads call
        self.alone: list[str] = []  # event ids of each commit_upload call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def commit_uploads(self, uploads: Sequence[UploadCommit]) -> None:
        self.batches.append([u.event_id for u in uploads])
        self._hook(uploads)
        self._real.commit_uploads(uploads)

    def commit_upload(self, upload: UploadCommit) -> None:
        self.alone.append(upload.event_id)
        self._hook([upload])
        self._real.commit_upload(upload)


def request(
    rid: str, *ids: str, text: str = "", mode: ConflictResolution = ConflictResolution.SKIP
) -> UploadRequest:
    inputs = [Input(id=i, data=Data(text=Text(raw=text or f"text of {i}"))) for i in ids]
    return UploadRequest(request_id=rid, inputs=inputs, conflict_resolution=mode)


def run_one_batch(
    rt: Runtime,
    requests: list[UploadRequest],
    hook: Callable[[Sequence[UploadCommit]], None] = lambda _u: None,
    limits: Limits | None = None,
) -> tuple[_Catalog, dict[str, Delivered]]:
    """Deliver `requests` as one batch (the worker waits until it holds all of them)."""
    catalog = _Catalog(rt.catalog, hook)
    stage = IngestStage(rt.blobs, catalog, rt.fetcher, limits or rt.settings.limits)  # type: ignore[arg-type]
    done: list[tuple[str, Delivered]] = []
    n = len(requests)

    def delivered(_topic: str, outcome: Delivered) -> None:
        rid = (
            outcome.result.request_id
            if isinstance(outcome.result, IngestResult)
            else str(outcome.dead_letter.event_id if outcome.dead_letter else "")
        )
        done.append((rid, outcome))

    bus = EmbeddedBus(
        dead_letter_sink=rt.catalog.record_dead_letter,
        queue_size=n,
        workers=1,
        policy=POLICY,
        on_delivered=delivered,
        batch_events=n,
        batch_ms=60_000,
    )
    with bus:
        bus.subscribe(UPLOADS, stage)
        for req in requests:
            bus.publish(UPLOADS, req, key="one")
    assert len(done) == n, "each event delivered once"
    return catalog, dict(done)


def stored(rt: Runtime) -> dict[str, str]:
    """Input id → its text, for every input of the app."""
    rows = rt.catalog.list_inputs("me", "main", limit=1000)
    return {r["id"]: rt.blobs.get(r["blob_key"]).decode() for r in rows}


def orphans(rt: Runtime) -> set[str]:
    """Blobs no input references once `ingestd gc` has run (a request that was not committed
    leaves its blobs to gc: pipeline/ingest/stage.py says why); and every input has its blob."""
    referenced = {r["blob_key"] for r in rt.catalog.iter_inputs("me", "main") if r["blob_key"]}
    assert referenced <= set(rt.blobs.keys("media/")), "an input lost its blob"
    collect_garbage(rt.catalog, rt.blobs, grace=timedelta(hours=1), now=LATER)
    return set(rt.blobs.keys("media/")) - referenced


def test_a_batch_is_one_catalog_transaction(embedded: Runtime) -> None:
    reqs = [request(f"r{n}", f"in-{n}") for n in range(8)]
    catalog, done = run_one_batch(embedded, reqs)
    assert catalog.batches == [[r.request_id for r in reqs]]
    assert catalog.alone == []
    assert stored(embedded) == {f"in-{n}": f"text of in-{n}" for n in range(8)}
    assert all(d.result is not None and d.dead_letter is None for d in done.values())


def test_a_poison_row_in_the_middle_is_one_dead_letter_and_the_others_are_stored(
    embedded: Runtime,
) -> None:
    def refuse(uploads: Sequence[UploadCommit]) -> None:
        if any(u.event_id == "poison" for u in uploads):
            raise ValueError("the database refuses this row")

    reqs = [request(f"r{n}", f"in-{n}") for n in range(3)]
    reqs += [request("poison", "in-p")] + [request(f"r{n}", f"in-{n}") for n in range(3, 6)]
    catalog, done = run_one_batch(embedded, reqs, refuse)
    # The batch failed for the poison's reason: every request alone, in order; the poison
    # tried error_attempts times, the others once each.
    assert catalog.batches == [[r.request_id for r in reqs]]
    good = [r.request_id for r in reqs if r.request_id != "poison"]
    assert [e for e in catalog.alone if e != "poison"] == good
    assert stored(embedded) == {f"in-{n}": f"text of in-{n}" for n in range(6)}
    letters = embedded.catalog.list_dead_letters()
    assert [(d.event_id, d.code) for d in letters] == [("poison", StatusCode.INTERNAL_SERVER_ISSUE)]
    assert done["poison"].dead_letter is not None
    assert orphans(embedded) == set()


def test_a_request_refused_in_the_middle_is_one_dead_letter_and_the_rest_one_transaction(
    embedded: Runtime,
) -> None:
    reqs = [request(f"r{n}", f"in-{n}") for n in range(3)]
    reqs += [request("too-big", "a", "b", "c")] + [request(f"r{n}", f"in-{n}") for n in (3, 4)]
    catalog, done = run_one_batch(embedded, reqs, limits=Limits(batch_inputs=2))
    assert catalog.batches == [[f"r{n}" for n in range(5)]]
    assert catalog.alone == []
    assert set(stored(embedded)) == {f"in-{n}" for n in range(5)}
    letters = embedded.catalog.list_dead_letters()
    assert [(d.event_id, d.code) for d in letters] == [
        ("too-big", StatusCode.INPUT_INVALID_REQUEST)
    ]


def test_a_catalog_outage_commits_nothing_and_the_batch_is_retried_whole(
    embedded: Runtime,
) -> None:
    failures = [TransientError("catalog unavailable"), TransientError("catalog unavailable")]

    def outage(_uploads: Sequence[UploadCommit]) -> None:
        if failures:
            assert stored(embedded) == {}, "nothing of the batch is committed during the outage"
            raise failures.pop()

    reqs = [request(f"r{n}", f"in-{n}") for n in range(6)]
    catalog, done = run_one_batch(embedded, reqs, outage)
    assert catalog.batches == [[r.request_id for r in reqs]] * 3
    assert catalog.alone == []
    assert stored(embedded) == {f"in-{n}": f"text of in-{n}" for n in range(6)}
    assert embedded.catalog.list_dead_letters() == []
    assert {d.attempts for d in done.values()} == {3}


def test_an_id_taken_meanwhile_falls_back_to_one_by_one_as_if_second(embedded: Runtime) -> None:
    raced = []

    def competitor(_uploads: Sequence[UploadCommit]) -> None:
        if not raced:  # another worker stores in-2 (other content) between plan and commit
            raced.append(embedded.ingest.handle(request("other", "in-2", text="theirs")))

    reqs = [request(f"r{n}", f"in-{n}") for n in range(5)]
    catalog, done = run_one_batch(embedded, reqs, competitor)
    assert catalog.batches == [[r.request_id for r in reqs]]
    assert catalog.alone == [r.request_id for r in reqs]
    assert stored(embedded) == {
        **{f"in-{n}": f"text of in-{n}" for n in range(5)},
        "in-2": "theirs",
    }
    result = done["r2"].result
    assert isinstance(result, IngestResult)
    assert [o.action for o in result.outcomes] == [Action.SKIPPED]
    assert orphans(embedded) == set(), "gc removes the batch's blob for the lost input"


def test_requests_for_one_id_in_a_batch_end_as_if_handled_in_order(embedded: Runtime) -> None:
    suffix = ConflictResolution.SUFFIX
    reqs = [
        request("a", "x", text="first"),
        request("b", "x", text="second"),  # SKIP: x is a's
        request("c", "y", text="first", mode=suffix),
        request("d", "y", text="second", mode=suffix),  # SUFFIX: y-1
        request("e", "z"),
        request("a", "x", text="first"),  # a redelivered: replayed, nothing written twice
    ]
    catalog, done = run_one_batch(embedded, reqs)
    # The first of each id in the batch transaction; the later ones alone, after it.
    assert catalog.batches == [["a", "c", "e"]]
    assert catalog.alone == ["b", "d"]
    assert stored(embedded) == {"x": "first", "y": "first", "y-1": "second", "z": "text of z"}
    again = done["a"].result  # the last delivery of a
    assert isinstance(again, IngestResult) and again.replayed
    assert embedded.catalog.list_dead_letters() == []
