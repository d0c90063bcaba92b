"""Read side of the catalog, and the small writes the CLI makes (datasets, dead letters).

Listing paginates by id (keyset), so it costs the same on page 1 and page 10,000.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.engine import Connection

from connectors.catalog import add_jobs
from connectors.catalog import schema as t
from connectors.catalog.batching import in_batches
from connectors.catalog.request_tables import refused_inputs
from connectors.catalog.rows import (
    NOT_DELETED,
    by_id,
    first_row,
    from_row,
    of_tenant,
    rows_among,
    utc_now,
)
from pipeline.events import DeadLetter
from pipeline.records import InputOutcome, add_job_of
from pipeline.status import StatusCode

_PENDING = (StatusCode.INPUT_PENDING, StatusCode.INPUT_IN_PROGRESS)
# Inputs whose source object was deleted (S3 drop zones) are kept but no longer listed.


class CatalogQueries:
    """Mixed into SqlCatalog; relies on its `begin()` and `_insert()`."""

    def begin(
        self,
    ) -> AbstractContextManager[Connection]:  # pragma: no cover - provided by SqlCatalog
        raise NotImplementedError

    def insert(self, table: Any) -> Any:  # pragma: no cover - provided by SqlCatalog
        raise NotImplementedError

    # -- inputs -------------------------------------------------------------------------

    def list_inputs(
        self,
        user_id: str,
        app_id: str,
        *,
        after_id: str = "",
        limit: int = 100,
        failed_only: bool = False,
        dataset_id: str | None = None,
    ) -> list[dict[str, Any]]:
        c = t.inputs.c
        query = select(t.inputs).where(
            c.user_id == user_id, c.app_id == app_id, c.id > after_id, NOT_DELETED
        )
        if failed_only and dataset_id is None:
            return self._failed_with_refused(user_id, app_id, after_id, limit)
        if failed_only:
            query = query.where(c.status_code != int(StatusCode.INPUT_SUCCESS))
        if dataset_id is not None:
            m = t.dataset_inputs.c
            query = query.join(
                t.dataset_inputs,
                (m.user_id == c.user_id) & (m.app_id == c.app_id) & (m.input_id == c.id),
            ).where(m.dataset_id == dataset_id)
        with self.begin() as conn:
            rows = conn.execute(query.order_by(c.id).limit(limit)).mappings().all()
        return [dict(r) for r in rows]

    def _failed_with_refused(
        self, user_id: str, app_id: str, after_id: str, limit: int
    ) -> list[dict[str, Any]]:
        """Failed inputs and refused ids in one id order (the database's, as `>` pages by)."""
        c, r = t.inputs.c, refused_inputs.c
        failed = select(c.id, literal(0).label("refused")).where(
            c.user_id == user_id,
            c.app_id == app_id,
            c.id > after_id,
            NOT_DELETED,
            c.status_code != int(StatusCode.INPUT_SUCCESS),
        )
        refused = select(r.id, literal(1).label("refused")).where(
            r.user_id == user_id, r.app_id == app_id, r.id > after_id
        )
        # Each side sorted and cut first, so a page never sorts every failure of the app.
        parts = [
            q.order_by(q.selected_columns[0]).limit(limit).subquery() for q in (failed, refused)
        ]
        ids = union_all(*(select(p.c.id, p.c.refused) for p in parts)).subquery()
        rows: dict[str, dict[str, Any]] = {}
        with self.begin() as conn:
            page = conn.execute(
                select(ids.c.id, ids.c.refused).order_by(ids.c.id).limit(limit)
            ).all()
            for refused_flag, table, key in ((0, t.inputs, c), (1, refused_inputs, r)):
                wanted = [i for i, flag in page if flag == refused_flag]
                if not wanted:
                    continue
                found = conn.execute(
                    select(table).where(
                        key.user_id == user_id, key.app_id == app_id, key.id.in_(wanted)
                    )
                ).mappings()
                for row in found:
                    rows[row["id"]] = _refused_row(row) if refused_flag else dict(row)
        return [rows[i] for i, _ in page if i in rows]

    def iter_inputs(
        self, user_id: str, app_id: str, page: int = 1000, **kw: Any
    ) -> Iterator[dict[str, Any]]:
        after = ""
        while True:
            rows = self.list_inputs(user_id, app_id, after_id=after, limit=page, **kw)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1]["id"]

    def get_input(self, user_id: str, app_id: str, input_id: str) -> dict[str, Any] | None:
        with self.begin() as conn:
            row = first_row(
                conn, select(t.inputs).where(by_id(t.inputs, user_id, app_id, input_id))
            )
            if row is None:
                return None
            a, m = t.annotations, t.dataset_inputs
            anns = conn.execute(
                select(a)
                .where(of_tenant(a, user_id, app_id), a.c.input_id == input_id)
                .order_by(a.c.id)
            ).mappings()
            row["annotations"] = [dict(x) for x in anns]
            sets = conn.execute(
                select(m.c.dataset_id)
                .where(of_tenant(m, user_id, app_id), m.c.input_id == input_id)
                .order_by(m.c.dataset_id)
            ).scalars()
            row["dataset_ids"] = list(sets)
        return row

    def input_counts(self, user_id: str, app_id: str) -> dict[str, int]:
        """InputCount of the reference: processed, to_process, errors, processing."""
        c = t.inputs.c
        code = c.status_code
        with self.begin() as conn:
            row = conn.execute(
                select(
                    func.count(case((code == int(StatusCode.INPUT_SUCCESS), 1))),
                    func.count(case((code == int(StatusCode.INPUT_PENDING), 1))),
                    func.count(case((code == int(StatusCode.INPUT_IN_PROGRESS), 1))),
                    func.count(
                        case((code.notin_([int(StatusCode.INPUT_SUCCESS), *map(int, _PENDING)]), 1))
                    ),
                ).where(c.user_id == user_id, c.app_id == app_id, NOT_DELETED)
            ).one()
            r = refused_inputs.c
            refused = conn.execute(
                select(func.count()).where(r.user_id == user_id, r.app_id == app_id)
            ).scalar_one()
        errors = row[3] + refused  # inputs refused for their id are errors too
        return {"processed": row[0], "to_process": row[1], "processing": row[2], "errors": errors}

    def input_statuses(
        self, user_id: str, app_id: str, ids: Collection[str]
    ) -> dict[str, tuple[int, str]]:
        """Status code and message of each id that is in the catalog."""
        c = t.inputs.c
        query = select(c.id, c.status_code, c.status_message).where(
            of_tenant(t.inputs, user_id, app_id)
        )
        with self.begin() as conn:
            rows = rows_among(conn, query, c.id, ids)
            return {r["id"]: (r["status_code"], r["status_message"]) for r in rows}

    def settled(
        self, user_id: str, app_id: str, event_ids: Collection[str]
    ) -> dict[str, list[InputOutcome] | DeadLetter]:
        """The app's events that are done: their input outcomes, or their dead letter."""
        wanted = list(event_ids)
        out: dict[str, list[InputOutcome] | DeadLetter] = {}
        p = t.processed_events.c
        d = t.dead_letters.c
        with self.begin() as conn:
            for part in in_batches(wanted):
                for event_id, outcomes in conn.execute(
                    select(p.event_id, p.outcomes).where(
                        p.user_id == user_id, p.app_id == app_id, p.event_id.in_(part)
                    )
                ):
                    out[event_id] = [InputOutcome.from_dict(o) for o in outcomes]
                rows = conn.execute(
                    select(t.dead_letters).where(d.event_id.in_(part), d.replayed_at.is_(None))
                ).mappings()
                for row in rows:
                    if _of_tenant(row["event"], user_id, app_id):
                        out.setdefault(row["event_id"], _dead_letter(row))
        return out

    def processed_request(self, user_id: str, app_id: str, event_id: str) -> dict[str, Any] | None:
        """One processed request of the app: stage, time and every input's outcome."""
        p = t.processed_events.c
        query = select(p.event_id, p.stage, p.outcomes, p.processed_at).where(
            of_tenant(t.processed_events, user_id, app_id), p.event_id == event_id
        )
        with self.begin() as conn:
            return first_row(conn, query)

    # -- datasets -----------------------------------------------------------------------

    def create_dataset(
        self,
        user_id: str,
        app_id: str,
        dataset_id: str,
        description: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> bool:
        """Create a dataset; False when it already exists (nothing is changed then)."""
        new = self._new_dataset(
            user_id, app_id, dataset_id, utc_now(), description=description, metadata=metadata or {}
        )
        with self.begin() as conn:
            # RETURNING, not rowcount: psycopg reports -1 here.
            return conn.execute(new.returning(t.datasets.c.id)).first() is not None

    def _new_dataset(
        self, user_id: str, app_id: str, dataset_id: str, now: datetime, **fields: Any
    ) -> Any:
        """The insert of a dataset (fields: description, metadata) that keeps an existing one."""
        row = {"description": "", "metadata": {}, **fields, "created_at": now, "modified_at": now}
        return (
            self.insert(t.datasets)
            .values(user_id=user_id, app_id=app_id, id=dataset_id, **row)
            .on_conflict_do_nothing(index_elements=["user_id", "app_id", "id"])
        )

    def list_datasets(self, user_id: str, app_id: str) -> list[dict[str, Any]]:
        d = t.datasets.c
        m = t.dataset_inputs.c
        c = t.inputs.c
        # Counted as `datasets inputs` lists them: members that are stored, not deleted inputs.
        members = (
            select(m.dataset_id, func.count().label("inputs_count"))
            .join(
                t.inputs, (c.user_id == m.user_id) & (c.app_id == m.app_id) & (c.id == m.input_id)
            )
            .where(m.user_id == user_id, m.app_id == app_id, NOT_DELETED)
            .group_by(m.dataset_id)
            .subquery()
        )
        query = (
            select(d.id, d.description, d.created_at, func.coalesce(members.c.inputs_count, 0))
            .outerjoin(members, members.c.dataset_id == d.id)
            .where(d.user_id == user_id, d.app_id == app_id)
            .order_by(d.id)
        )
        with self.begin() as conn:
            rows = conn.execute(query).all()
        return [
            {"id": r[0], "description": r[1], "created_at": r[2], "inputs_count": r[3]}
            for r in rows
        ]

    def get_dataset(self, user_id: str, app_id: str, dataset_id: str) -> dict[str, Any] | None:
        query = select(t.datasets).where(by_id(t.datasets, user_id, app_id, dataset_id))
        with self.begin() as conn:
            return first_row(conn, query)

    # -- dead letters -------------------------------------------------------------------

    def record_dead_letter(self, letter: DeadLetter) -> None:
        with self.begin() as conn:
            new = conn.execute(
                self.insert(t.dead_letters)
                .values(
                    id=letter.dead_letter_id,
                    code=int(letter.code),
                    **letter.model_dump(exclude={"dead_letter_id", "code"}),
                )
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(t.dead_letters.c.id)
            ).first()
            if new is not None and letter.stage == "ingest":
                # A request refused whole: its inputs count failed in its add-job, once.
                add_jobs.count(conn, _dead_counts(letter.event), utc_now())

    def list_dead_letters(self, include_replayed: bool = False) -> list[DeadLetter]:
        c = t.dead_letters.c
        query = select(t.dead_letters).order_by(c.failed_at)
        if not include_replayed:
            query = query.where(c.replayed_at.is_(None))
        with self.begin() as conn:
            rows = conn.execute(query).mappings().all()
        return [_dead_letter(r) for r in rows]

    def mark_dead_letter_replayed(self, dead_letter_id: str) -> None:
        with self.begin() as conn:
            conn.execute(
                t.dead_letters.update()
                .where(t.dead_letters.c.id == dead_letter_id)
                .values(replayed_at=utc_now())
            )


def _dead_counts(event: dict[str, Any]) -> dict[tuple[str, str, str], Counter[str]]:
    job = add_job_of(_text(event.get("run_id")), _text(event.get("job_id")))
    inputs = event.get("inputs")
    if job is None or not isinstance(inputs, list):
        return {}
    tenant = (_text(event.get("user_id")) or "me", _text(event.get("app_id")) or "main")
    return {(*tenant, job): Counter(failed=len(inputs))}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dead_letter(r: Any) -> DeadLetter:
    return from_row(DeadLetter, r, dead_letter_id=r["id"], code=StatusCode(r["code"]))


def _of_tenant(event: Any, user_id: str, app_id: str) -> bool:
    """Whether a dead-lettered event belongs to the app (unreadable ones match any app)."""
    if not isinstance(event, dict):
        return True
    user, app = event.get("user_id"), event.get("app_id")
    return (user is None or user == user_id) and (app is None or app == app_id)


def _refused_row(row: Any) -> dict[str, Any]:
    """A refused input in the shape of an inputs row: its id, code and message; no media."""
    out: dict[str, Any] = {col.name: None for col in t.inputs.columns}
    out.update(
        id=row["id"],
        status_code=row["status_code"],
        status_message=row["status_message"],
        request_id=row["request_id"],
        concepts=[],
        metadata={},
        created_at=row["refused_at"],
        modified_at=row["refused_at"],
        refused=True,
    )
    return out
