"""Read side of the catalog, and the small writes the CLI makes (datasets, dead letters).

Listing paginates by id (keyset), so it costs the same on page 1 and page 10,000.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import case, func, literal_column, select
from sqlalchemy.engine import Connection

from connectors.catalog import schema as t
from connectors.catalog.batching import in_batches
from connectors.catalog.rows import utc_now
from pipeline.events import DeadLetter
from pipeline.records import InputOutcome
from pipeline.status import StatusCode

_PENDING = (StatusCode.INPUT_PENDING, StatusCode.INPUT_IN_PROGRESS)
# Inputs whose source object was deleted (S3 drop zones) are kept but no longer listed.
_NOT_DELETED = literal_column("inputs.deleted_at").is_(None)


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
            c.user_id == user_id, c.app_id == app_id, c.id > after_id, _NOT_DELETED
        )
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
        c = t.inputs.c
        with self.begin() as conn:
            row = (
                conn.execute(
                    select(t.inputs).where(
                        c.user_id == user_id, c.app_id == app_id, c.id == input_id
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            a = t.annotations.c
            anns = (
                conn.execute(
                    select(t.annotations)
                    .where(a.user_id == user_id, a.app_id == app_id, a.input_id == input_id)
                    .order_by(a.id)
                )
                .mappings()
                .all()
            )
            m = t.dataset_inputs.c
            sets = (
                conn.execute(
                    select(m.dataset_id)
                    .where(m.user_id == user_id, m.app_id == app_id, m.input_id == input_id)
                    .order_by(m.dataset_id)
                )
                .scalars()
                .all()
            )
        out = dict(row)
        out["annotations"] = [dict(x) for x in anns]
        out["dataset_ids"] = list(sets)
        return out

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
                ).where(c.user_id == user_id, c.app_id == app_id, _NOT_DELETED)
            ).one()
        return {"processed": row[0], "to_process": row[1], "processing": row[2], "errors": row[3]}

    def input_statuses(
        self, user_id: str, app_id: str, ids: Collection[str]
    ) -> dict[str, tuple[int, str]]:
        """Status code and message of each id that is in the catalog."""
        c = t.inputs.c
        wanted = list(ids)
        out: dict[str, tuple[int, str]] = {}
        with self.begin() as conn:
            for batch in in_batches(wanted):
                rows = conn.execute(
                    select(c.id, c.status_code, c.status_message).where(
                        c.user_id == user_id,
                        c.app_id == app_id,
                        c.id.in_(batch),
                    )
                )
                out.update({r[0]: (r[1], r[2]) for r in rows})
        return out

    def settled(self, event_ids: Collection[str]) -> dict[str, list[InputOutcome] | DeadLetter]:
        """Events that are done: their input outcomes, or the dead letter written for them."""
        wanted = list(event_ids)
        out: dict[str, list[InputOutcome] | DeadLetter] = {}
        p = t.processed_events.c
        d = t.dead_letters.c
        with self.begin() as conn:
            for part in in_batches(wanted):
                for event_id, outcomes in conn.execute(
                    select(p.event_id, p.outcomes).where(p.event_id.in_(part))
                ):
                    out[event_id] = [InputOutcome.from_dict(o) for o in outcomes]
                rows = conn.execute(
                    select(t.dead_letters).where(d.event_id.in_(part), d.replayed_at.is_(None))
                ).mappings()
                for row in rows:
                    out.setdefault(row["event_id"], _dead_letter(row))
        return out

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
        now = utc_now()
        with self.begin() as conn:
            result = conn.execute(
                self.insert(t.datasets)
                .values(
                    user_id=user_id,
                    app_id=app_id,
                    id=dataset_id,
                    description=description,
                    metadata=metadata or {},
                    created_at=now,
                    modified_at=now,
                )
                .on_conflict_do_nothing(index_elements=["user_id", "app_id", "id"])
                .returning(t.datasets.c.id)  # not rowcount: psycopg reports -1 here
            )
            return result.first() is not None

    def list_datasets(self, user_id: str, app_id: str) -> list[dict[str, Any]]:
        d = t.datasets.c
        m = t.dataset_inputs.c
        members = (
            select(m.dataset_id, func.count().label("inputs_count"))
            .where(m.user_id == user_id, m.app_id == app_id)
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
        d = t.datasets.c
        with self.begin() as conn:
            row = (
                conn.execute(
                    select(t.datasets).where(
                        d.user_id == user_id, d.app_id == app_id, d.id == dataset_id
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    # -- dead letters -------------------------------------------------------------------

    def record_dead_letter(self, letter: DeadLetter) -> None:
        with self.begin() as conn:
            conn.execute(
                self.insert(t.dead_letters)
                .values(
                    id=letter.dead_letter_id,
                    event_id=letter.event_id,
                    stage=letter.stage,
                    code=int(letter.code),
                    message=letter.message,
                    attempts=letter.attempts,
                    origin_topic=letter.origin_topic,
                    origin_partition=letter.origin_partition,
                    origin_offset=letter.origin_offset,
                    origin_key=letter.origin_key,
                    event=letter.event,
                    failed_at=letter.failed_at,
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )

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


def _dead_letter(r: Any) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=r["id"],
        event_id=r["event_id"],
        stage=r["stage"],
        code=StatusCode(r["code"]),
        message=r["message"],
        attempts=r["attempts"],
        origin_topic=r["origin_topic"],
        origin_partition=r["origin_partition"],
        origin_offset=r["origin_offset"],
        origin_key=r["origin_key"],
        event=r["event"],
        failed_at=r["failed_at"],
    )
