"""Catalog operations of extraction jobs: the job rows, their status and progress, the ledger.

Status moves queued → running → completed | failed | cancelled. `cancel` may come from
another process at any time; the runner's final write never overwrites it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import column, func, select, table
from sqlalchemy.engine import Connection

from connectors.catalog import extraction_tables as x
from connectors.catalog.batching import in_batches
from connectors.catalog.rows import by_id, first_row, from_row, of_tenant, rows_among, utc_now
from pipeline.status import StatusCode

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog

ACTIVE = (int(StatusCode.JOB_QUEUED), int(StatusCode.JOB_RUNNING))

# The inputs table seen through the column the extraction migration adds.
_inputs = table(
    "inputs",
    column("user_id"),
    column("app_id"),
    column("id"),
    column("status_code"),
    column("deleted_at"),
)


@dataclass
class LedgerRow:
    origin_id: str
    origin: str
    bucket: str
    key: str
    parent_id: str | None
    kind: str
    etag: str
    template_fp: str
    input_id: str | None
    status_code: int
    job_id: str
    deleted_at: datetime | None = None

    def to_row(self, user_id: str, app_id: str, now: datetime) -> dict[str, Any]:
        row = dict(self.__dict__)
        row.update(user_id=user_id, app_id=app_id, seen_at=now, deleted_at=None)
        return row


class ExtractionJobCatalog:
    """Jobs and ledger on an open SqlCatalog (SQLite or PostgreSQL)."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    # -- jobs ---------------------------------------------------------------------------

    def create(
        self,
        user_id: str,
        app_id: str,
        url: str,
        *,
        conflict_resolution: str,
        input_template: dict[str, Any],
        watch: bool,
        credentials: str,
    ) -> dict[str, Any]:
        now = utc_now()
        row = {
            "id": uuid.uuid4().hex,
            "user_id": user_id,
            "app_id": app_id,
            "url": url,
            "status_code": int(StatusCode.JOB_QUEUED),
            "status_message": "",
            "input_id_conflict_resolution": conflict_resolution,
            "input_template": input_template,
            "watch": watch,
            "credentials": credentials,
            "last_key": None,
            **dict.fromkeys(x.COUNTERS, 0),
            "created_at": now,
            "modified_at": now,
        }
        with self.catalog.begin() as conn:
            conn.execute(x.extraction_jobs.insert().values(**row))
        return row

    def get(self, user_id: str, app_id: str, job_id: str) -> dict[str, Any] | None:
        jobs = x.extraction_jobs
        with self.catalog.begin() as conn:
            return first_row(conn, select(jobs).where(by_id(jobs, user_id, app_id, job_id)))

    def list_jobs(self, user_id: str, app_id: str, limit: int = 100) -> list[dict[str, Any]]:
        j = x.extraction_jobs.c
        query = (
            select(x.extraction_jobs)
            .where(j.user_id == user_id, j.app_id == app_id)
            .order_by(j.created_at.desc(), j.id)
            .limit(limit)
        )
        with self.catalog.begin() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    def status(self, job_id: str) -> int:
        j = x.extraction_jobs.c
        with self.catalog.begin() as conn:
            return int(conn.execute(select(j.status_code).where(j.id == job_id)).scalar_one())

    def start(self, job_id: str) -> bool:
        """queued → running; False when the job was cancelled before it started."""
        return self._move(job_id, StatusCode.JOB_RUNNING, "", (int(StatusCode.JOB_QUEUED),))

    def finish(self, job_id: str, code: StatusCode, message: str = "") -> int:
        """Set the final status unless a cancel came first; returns the status the job has."""
        self._move(job_id, code, message, ACTIVE)
        return self.status(job_id)

    def note(self, job_id: str, message: str) -> None:
        """A message on a running job (a watch cycle that failed and will be retried)."""
        self._move(job_id, StatusCode.JOB_RUNNING, message, (int(StatusCode.JOB_RUNNING),))

    def cancel(self, user_id: str, app_id: str, job_id: str) -> dict[str, Any] | None:
        """Ask a queued or running job to stop; its runner notices within a moment."""
        j = x.extraction_jobs.c
        with self.catalog.begin() as conn:
            conn.execute(
                x.extraction_jobs.update()
                .where(
                    j.user_id == user_id,
                    j.app_id == app_id,
                    j.id == job_id,
                    j.status_code.in_(ACTIVE),
                )
                .values(
                    status_code=int(StatusCode.JOB_CANCELLED),
                    status_message="cancelled by request",
                    modified_at=utc_now(),
                )
            )
        return self.get(user_id, app_id, job_id)

    def save_progress(
        self, job_id: str, counters: dict[str, int], last_key: str | None = None
    ) -> None:
        values: dict[str, Any] = {k: counters[k] for k in x.COUNTERS if k in counters}
        if last_key is not None:
            values["last_key"] = last_key
        values["modified_at"] = utc_now()
        with self.catalog.begin() as conn:
            conn.execute(
                x.extraction_jobs.update().where(x.extraction_jobs.c.id == job_id).values(**values)
            )

    def _move(self, job_id: str, code: StatusCode, message: str, allowed: tuple[int, ...]) -> bool:
        j = x.extraction_jobs.c
        with self.catalog.begin() as conn:
            result = conn.execute(
                x.extraction_jobs.update()
                .where(j.id == job_id, j.status_code.in_(allowed))
                .values(status_code=int(code), status_message=message, modified_at=utc_now())
            )
        return bool(result.rowcount)

    # -- the ledger ---------------------------------------------------------------------

    def lookup(
        self, user_id: str, app_id: str, origin_ids: Collection[str]
    ) -> dict[str, LedgerRow]:
        objects = x.extraction_objects
        query = select(objects).where(of_tenant(objects, user_id, app_id))
        with self.catalog.begin() as conn:
            rows = rows_among(conn, query, objects.c.origin_id, origin_ids)
            return {r["origin_id"]: _ledger_row(r) for r in rows}

    def record(self, user_id: str, app_id: str, rows: list[LedgerRow]) -> None:
        if not rows:
            return
        now = utc_now()
        values = [r.to_row(user_id, app_id, now) for r in rows]
        stmt = self.catalog.insert(x.extraction_objects)
        keep = ("user_id", "app_id", "origin_id")
        with self.catalog.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=list(keep),
                    set_={k: stmt.excluded[k] for k in values[0] if k not in keep},
                ),
                values,
            )

    def mark_seen(self, user_id: str, app_id: str, origin_ids: list[str], now: datetime) -> None:
        objects = x.extraction_objects
        scope = of_tenant(objects, user_id, app_id)
        with self.catalog.begin() as conn:
            for batch in in_batches(origin_ids):
                hit = scope & objects.c.origin_id.in_(batch)
                conn.execute(objects.update().where(hit).values(seen_at=now))

    def unseen(
        self, user_id: str, app_id: str, bucket: str, prefix: str, since: datetime
    ) -> Iterator[LedgerRow]:
        """Objects (not members) under the prefix that a full listing begun at `since` missed."""
        o = x.extraction_objects.c
        query = select(x.extraction_objects).where(
            o.user_id == user_id,
            o.app_id == app_id,
            o.bucket == bucket,
            o.kind != "member",
            o.deleted_at.is_(None),
            o.seen_at < since,
            func.substr(o.key, 1, len(prefix)) == prefix,
        )
        with self.catalog.begin() as conn:
            rows = [_ledger_row(r) for r in conn.execute(query).mappings()]
        yield from rows

    def mark_deleted(
        self, user_id: str, app_id: str, rows: list[LedgerRow], delete_inputs: bool
    ) -> list[str]:
        """Mark objects (and their archive members) deleted; returns their input ids."""
        o = x.extraction_objects.c
        ids = [r.origin_id for r in rows]
        now = utc_now()
        input_ids: list[str] = []
        with self.catalog.begin() as conn:
            for part in in_batches(ids):
                scope = of_tenant(x.extraction_objects, user_id, app_id)
                hit = scope & (o.origin_id.in_(part) | o.parent_id.in_(part))
                input_ids += [i for i in conn.execute(select(o.input_id).where(hit)).scalars() if i]
                conn.execute(x.extraction_objects.update().where(hit).values(deleted_at=now))
            if delete_inputs:
                _set_deleted_at(conn, user_id, app_id, input_ids, now)
        return input_ids

    def live_inputs(self, user_id: str, app_id: str, ids: Collection[str]) -> set[str]:
        """Of these input ids, those stored successfully and not marked deleted."""
        c = _inputs.c
        query = select(c.id).where(
            of_tenant(_inputs, user_id, app_id),
            c.status_code == int(StatusCode.INPUT_SUCCESS),
            c.deleted_at.is_(None),
        )
        with self.catalog.begin() as conn:
            return {r["id"] for r in rows_among(conn, query, c.id, ids)}

    def undelete_inputs(self, user_id: str, app_id: str, ids: Collection[str]) -> None:
        """Inputs of objects that came back: no longer marked deleted."""
        with self.catalog.begin() as conn:
            _set_deleted_at(conn, user_id, app_id, ids, None)


def _set_deleted_at(
    conn: Connection, user_id: str, app_id: str, ids: Collection[str], when: datetime | None
) -> None:
    """Mark inputs deleted at `when`, or (None) no longer deleted."""
    c = _inputs.c
    for batch in in_batches(list(ids)):
        where = [of_tenant(_inputs, user_id, app_id), c.id.in_(batch)]
        if when is None:
            where.append(c.deleted_at.is_not(None))
        conn.execute(_inputs.update().where(*where).values(deleted_at=when))


def _ledger_row(r: Any) -> LedgerRow:
    return from_row(LedgerRow, r)
