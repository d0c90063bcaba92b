"""The ingest stage's commit: the UploadCommits of one or more requests in one transaction,
each kind of row written by one multi-row statement for all of them (a batch of 64
one-input requests is about ten statements, not four per request).

The catalog decides races: the requests' processed rows are claimed first, new ids go in
with insert-on-conflict, known ids must still hold what the plan saw; otherwise
InputsChanged and nothing is kept. A batch's requests never share an input id
(pipeline/ingest/batch.py), so writing them together is writing them one after the other.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from connectors.catalog import add_jobs
from connectors.catalog import schema as t
from connectors.catalog.rows import input_row, of_tenant, rows_among
from pipeline.ingest.ports import InputsChanged, UploadCommit
from pipeline.status import StatusCode

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog

Row = dict[str, Any]
_BUSY = frozenset({StatusCode.INPUT_PENDING, StatusCode.INPUT_IN_PROGRESS})


def commit_batch(
    catalog: SqlCatalog, conn: Connection, uploads: Sequence[UploadCommit], now: datetime
) -> None:
    """Every row of `uploads`, or InputsChanged (the caller's transaction rolls back)."""
    _claim(catalog, conn, uploads, now)
    _write_inputs(catalog, conn, uploads, now)
    for upload in uploads:
        if upload.replaced:
            _drop_replaced(conn, upload)
    catalog.upsert_annotations(conn, [a for u in uploads for a in u.annotations], now)
    catalog.add_memberships(conn, [r for u in uploads for r in u.inputs], now)
    for u in uploads:
        if u.refused:
            catalog.record_refused(conn, u.user_id, u.app_id, u.event_id, u.refused, now)
    add_jobs.count(conn, _outcome_counts(uploads), now)


def _outcome_counts(uploads: Sequence[UploadCommit]) -> dict[tuple[str, str, str], Counter[str]]:
    """What each add-job gains from these requests (committed once each: their processed
    rows were claimed in this transaction)."""
    deltas: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for u in uploads:
        if u.add_job is None:
            continue
        counts = deltas[u.user_id, u.app_id, u.add_job]
        for o in u.outcomes:
            counts["failed" if not o.ok else "in_progress" if o.code in _BUSY else "succeeded"] += 1
    return deltas


def unique_runs(rows: list[Row], key: Callable[[Row], Hashable]) -> Iterator[list[Row]]:
    """Consecutive runs of `rows` in which no key repeats: an upsert statement may touch a
    row only once (PostgreSQL), so a repeated key starts the next statement."""
    run: list[Row] = []
    seen: set[Hashable] = set()
    for row in rows:
        k = key(row)
        if k in seen:
            yield run
            run, seen = [], set()
        run.append(row)
        seen.add(k)
    if run:
        yield run


def _claim(
    catalog: SqlCatalog, conn: Connection, uploads: Sequence[UploadCommit], now: datetime
) -> None:
    # The events' rows first: they are writes, so on SQLite this transaction holds the write
    # lock from here on and what it reads below cannot change before it commits.
    p = t.processed_events.c
    rows = [
        {
            "user_id": u.user_id,
            "app_id": u.app_id,
            "event_id": u.event_id,
            "stage": "ingest",
            "outcomes": [o.to_dict() for o in u.outcomes],
            "processed_at": now,
        }
        for u in sorted(uploads, key=lambda u: (u.user_id, u.app_id, u.event_id))
    ]
    stmt = (
        catalog.insert(t.processed_events)
        .on_conflict_do_nothing(index_elements=["user_id", "app_id", "event_id"])
        .returning(p.user_id, p.app_id, p.event_id)
    )
    claimed = {tuple(r) for r in conn.execute(stmt, rows)}
    taken = [u.event_id for u in uploads if (u.user_id, u.app_id, u.event_id) not in claimed]
    if taken:
        raise InputsChanged(f"request {taken[0]} was processed by another worker")


def _write_inputs(
    catalog: SqlCatalog, conn: Connection, uploads: Sequence[UploadCommit], now: datetime
) -> None:
    """The rows, where the plan's view of each id still holds (a new id goes in only if
    nobody inserted it meanwhile, a known id is overwritten only if it still holds what the
    plan saw); otherwise InputsChanged."""
    fresh: list[Row] = []
    rest: list[Row] = []
    # In key order, as every writer does: two transactions locking the same rows (PostgreSQL)
    # take them in the same order and so cannot deadlock.
    for upload in sorted(uploads, key=_tenant):
        expected = upload.expected
        for record in upload.inputs:
            row = input_row(record, now)
            new = record.id in expected and expected[record.id] is None
            (fresh if new else rest).append(row)
    fresh.sort(key=_key)
    rest.sort(key=_key)
    if fresh:
        c = t.inputs.c
        stmt = catalog.insert(t.inputs).on_conflict_do_nothing(
            index_elements=["user_id", "app_id", "id"]
        )
        returned = conn.execute(stmt.returning(c.user_id, c.app_id, c.id), fresh)
        inserted = {tuple(r) for r in returned}
        lost = [r["id"] for r in fresh if (r["user_id"], r["app_id"], r["id"]) not in inserted]
        if lost:
            raise InputsChanged(f"input ids created by another request meanwhile: {lost[:5]}")
    _check_known(catalog, conn, uploads)
    _upsert_inputs(catalog, conn, rest)


def _check_known(catalog: SqlCatalog, conn: Connection, uploads: Sequence[UploadCommit]) -> None:
    expected: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for upload in uploads:
        wanted = {r.id for r in upload.inputs}
        for input_id, held in upload.expected.items():
            if held is not None and input_id in wanted:
                expected[upload.user_id, upload.app_id][input_id] = held
    c = t.inputs.c
    for (user_id, app_id), ids in expected.items():
        query = select(c.id, c.fingerprint).where(of_tenant(t.inputs, user_id, app_id))
        if catalog.dialect == "postgresql":
            query = query.with_for_update()  # held until commit: the check stays true
        now_held = {r["id"]: r["fingerprint"] for r in rows_among(conn, query, c.id, ids)}
        changed = [i for i in sorted(ids) if now_held.get(i) != ids[i]]
        if changed:
            raise InputsChanged(f"inputs changed by another request meanwhile: {changed[:5]}")


def _upsert_inputs(catalog: SqlCatalog, conn: Connection, rows: list[Row]) -> None:
    if not rows:
        return
    stmt = catalog.insert(t.inputs)
    updated = {
        name: stmt.excluded[name]
        for name in rows[0]
        if name not in ("user_id", "app_id", "id", "created_at")
    }
    # Same fingerprint means same content: leave the row (and its times) alone.
    upsert = stmt.on_conflict_do_update(
        index_elements=["user_id", "app_id", "id"],
        set_=updated,
        where=t.inputs.c.fingerprint != stmt.excluded.fingerprint,
    )
    for run in unique_runs(rows, _key):
        conn.execute(upsert, run)


def _tenant(upload: UploadCommit) -> tuple[str, str]:
    return upload.user_id, upload.app_id


def _key(row: Row) -> tuple[str, str, str]:
    return row["user_id"], row["app_id"], row["id"]


def _drop_replaced(conn: Connection, upload: UploadCommit) -> None:
    """An updated input loses what its earlier upload brought (UploadCommit.replaced);
    what the new upload sends again keeps its row (and its creation time)."""
    a = t.annotations.c
    sent: dict[str, set[str]] = {}
    for ann in upload.annotations:
        sent.setdefault(ann.input_id, set()).add(ann.id)
    for r in upload.replaced:
        conn.execute(
            delete(t.annotations).where(
                of_tenant(t.annotations, upload.user_id, upload.app_id),
                a.input_id == r.input_id,
                a.annotation_user_id.in_(sorted(r.users)),
                a.id.not_in(sorted(sent.get(r.input_id, ()))),
            )
        )
