"""Editing datasets in the SQL catalog: update, delete, add and remove inputs.

Every statement is scoped to the app, so another app's ids are never touched (they do not
exist here). Deleting a dataset keeps its inputs and its versions: ready versions keep
exactly what they froze and stay reachable by version id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from connectors.catalog import schema as t
from connectors.catalog.batching import in_batches
from connectors.catalog.rows import by_id, first_row, of_tenant, utc_now
from connectors.catalog.search import conditions
from pipeline.ingest.datasets import DatasetUpdate, membership_outcome
from pipeline.ingest.manage import ManageOutcome
from pipeline.limits import Limits
from pipeline.search import InputQuery
from pipeline.status import StatusCode

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog

# Inputs still being processed may join: the media stage keeps memberships.
_ADDABLE = (
    int(StatusCode.INPUT_SUCCESS),
    int(StatusCode.INPUT_PENDING),
    int(StatusCode.INPUT_IN_PROGRESS),
)


class DatasetCatalog:
    """Update and delete an app's datasets and change which inputs they hold."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def update(
        self, user_id: str, app_id: str, dataset_id: str, change: DatasetUpdate, limits: Limits
    ) -> dict[str, Any] | None:
        """The dataset after `change`; None when there is no such dataset. InputError (and
        nothing changed) when the new metadata is not acceptable."""
        where = by_id(t.datasets, user_id, app_id, dataset_id)
        with self.catalog.begin() as conn:
            query = select(t.datasets).where(where)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()  # two merges at once must not lose one
            row = first_row(conn, query)
            if row is None:
                return None
            values: dict[str, Any] = {"modified_at": utc_now()}
            if change.description is not None:
                values["description"] = change.description
            if change.metadata is not None:
                values["metadata"] = change.new_metadata(row["metadata"] or {}, limits)
            if change.sets_filter:
                values["default_filter"] = change.default_filter
            conn.execute(t.datasets.update().where(where).values(**values))
            row.update(values)
        return row

    def delete(self, user_id: str, app_id: str, dataset_id: str) -> int | None:
        """Delete the dataset (its inputs stay); how many inputs it held, None if none such."""
        m = t.dataset_inputs
        with self.catalog.begin() as conn:
            gone = conn.execute(
                delete(t.datasets)
                .where(by_id(t.datasets, user_id, app_id, dataset_id))
                .returning(t.datasets.c.id)
            ).first()
            if gone is None:
                return None
            members = conn.execute(
                delete(m)
                .where(of_tenant(m, user_id, app_id), m.c.dataset_id == dataset_id)
                .returning(m.c.input_id)
            ).all()
        return len(members)

    def add_inputs(
        self, user_id: str, app_id: str, dataset_id: str, ids: Sequence[str]
    ) -> list[ManageOutcome] | None:
        """Add existing inputs; one outcome per distinct id. None when no such dataset."""
        return self._change(user_id, app_id, dataset_id, ids, adding=True)

    def remove_inputs(
        self, user_id: str, app_id: str, dataset_id: str, ids: Sequence[str]
    ) -> list[ManageOutcome] | None:
        """Remove inputs from the dataset (they stay stored); None when no such dataset."""
        return self._change(user_id, app_id, dataset_id, ids, adding=False)

    def _change(
        self, user_id: str, app_id: str, dataset_id: str, ids: Sequence[str], *, adding: bool
    ) -> list[ManageOutcome] | None:
        out: dict[str, ManageOutcome] = {}
        for batch in in_batches(list(dict.fromkeys(ids))):
            with self.catalog.begin() as conn:
                if not self._exists(conn, user_id, app_id, dataset_id):
                    return None
                status = _statuses(conn, user_id, app_id, batch)
                members = _members(conn, user_id, app_id, dataset_id, batch)
                for input_id in batch:
                    code = status.get(input_id)
                    if adding and code is not None and code not in _ADDABLE:
                        out[input_id] = ManageOutcome(
                            input_id,
                            StatusCode.INPUT_INVALID_ARGUMENT,
                            f"input {input_id!r} failed ({StatusCode(code).name}); "
                            "upload it again before adding it to a dataset",
                        )
                        continue
                    out[input_id] = membership_outcome(
                        input_id, known=code is not None, member=input_id in members, adding=adding
                    )
                changed = [i for i in batch if out[i].action in ("added", "removed")]
                self._write(conn, user_id, app_id, dataset_id, changed, adding=adding)
        return list(out.values())

    def _exists(self, conn: Connection, user_id: str, app_id: str, dataset_id: str) -> bool:
        query = select(t.datasets.c.id).where(by_id(t.datasets, user_id, app_id, dataset_id))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # a delete meanwhile must not leave stray members
        return conn.execute(query).first() is not None

    def _write(
        self,
        conn: Connection,
        user_id: str,
        app_id: str,
        dataset_id: str,
        ids: list[str],
        *,
        adding: bool,
    ) -> None:
        if not ids:
            return
        m = t.dataset_inputs
        if not adding:
            conn.execute(
                delete(m).where(
                    of_tenant(m, user_id, app_id),
                    m.c.dataset_id == dataset_id,
                    m.c.input_id.in_(ids),
                )
            )
            return
        now = utc_now()
        rows = [
            {"user_id": user_id, "app_id": app_id, "dataset_id": dataset_id, "input_id": i,
             "added_at": now}
            for i in ids
        ]  # fmt: skip
        conn.execute(
            self.catalog.insert(m).on_conflict_do_nothing(
                index_elements=["user_id", "app_id", "dataset_id", "input_id"]
            ),
            rows,
        )


def _statuses(conn: Connection, user_id: str, app_id: str, ids: Sequence[str]) -> dict[str, int]:
    """Status of each id that is a stored input of the app (not a deleted source object)."""
    c = t.inputs.c
    where = conditions(InputQuery(), user_id, app_id, conn.dialect.name)
    rows = conn.execute(select(c.id, c.status_code).where(*where, c.id.in_(list(ids))))
    return {r[0]: r[1] for r in rows}


def _members(
    conn: Connection, user_id: str, app_id: str, dataset_id: str, ids: Sequence[str]
) -> set[str]:
    m = t.dataset_inputs
    query = select(m.c.input_id).where(
        of_tenant(m, user_id, app_id), m.c.dataset_id == dataset_id, m.c.input_id.in_(list(ids))
    )
    return set(conn.execute(query).scalars())
