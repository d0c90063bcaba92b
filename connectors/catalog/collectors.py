"""Collectors in the catalog, and the snapshot of all of them that the collect stage runs on."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from connectors.catalog.collectors_tables import api_keys, collectors, workflows
from connectors.catalog.keys import api_key_from_row
from connectors.catalog.rows import by_id, first_row, page_query, utc_now
from pipeline.collect.collectors import SOURCE_FIELDS, Collector, CollectorStatus
from pipeline.collect.ports import CollectorSnapshot
from pipeline.keys import ApiKey

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog


class CollectorCatalog:
    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def create(self, user_id: str, app_id: str, collector: Collector) -> Collector | None:
        """Store a new collector; None when the id is taken in this app."""
        now = utc_now()
        values = {**_row(collector), "user_id": user_id, "app_id": app_id, "created_at": now}
        stmt = (
            self.catalog.insert(collectors)
            .values(**values, modified_at=now)
            .on_conflict_do_nothing(index_elements=["user_id", "app_id", "id"])
            .returning(collectors.c.id)  # not rowcount: psycopg reports -1 on conflict inserts
        )
        with self.catalog.begin() as conn:
            inserted = conn.execute(stmt).first()
        return None if inserted is None else collector.model_copy(update={"created_at": now})

    def save(self, user_id: str, app_id: str, collector: Collector) -> bool:
        """Write every field of an existing collector (after a patch)."""
        c = collectors.c
        with self.catalog.begin() as conn:
            result = conn.execute(
                update(collectors)
                .where(c.user_id == user_id, c.app_id == app_id, c.id == collector.id)
                .values(**_row(collector), modified_at=utc_now())
            )
        return bool(result.rowcount)

    def set_status(
        self, user_id: str, app_id: str, ids: Collection[str], status: CollectorStatus
    ) -> list[str]:
        """Activate or deactivate; returns the ids that exist."""
        c = collectors.c
        where = (c.user_id == user_id, c.app_id == app_id, c.id.in_(list(ids)))
        with self.catalog.begin() as conn:
            found = list(conn.execute(select(c.id).where(*where)).scalars())
            conn.execute(
                update(collectors).where(*where).values(status=status.value, modified_at=utc_now())
            )
        return found

    def get(self, user_id: str, app_id: str, collector_id: str) -> Collector | None:
        query = select(collectors).where(by_id(collectors, user_id, app_id, collector_id))
        with self.catalog.begin() as conn:
            row = first_row(conn, query)
        return None if row is None else _collector(row)

    def page(
        self, user_id: str, app_id: str, *, after_id: str = "", limit: int = 50
    ) -> list[Collector]:
        """Collectors of the app in id order, after `after_id` (keyset pagination)."""
        query = page_query(collectors, user_id, app_id, after_id, limit)
        with self.catalog.begin() as conn:
            return [_collector(r) for r in conn.execute(query).mappings()]

    def delete(self, user_id: str, app_id: str, ids: Collection[str] | None) -> list[str]:
        """Delete these collectors (None: all of the app's); returns the ids deleted."""
        c = collectors.c
        where = [c.user_id == user_id, c.app_id == app_id]
        if ids is not None:
            where.append(c.id.in_(list(ids)))
        with self.catalog.begin() as conn:
            found = list(conn.execute(select(c.id).where(*where).order_by(c.id)).scalars())
            conn.execute(delete(collectors).where(*where))
        return found

    def snapshot(self) -> CollectorSnapshot:
        """Every collector of every app, with the keys and workflows they name."""
        with self.catalog.begin() as conn:
            rows = list(conn.execute(select(collectors)).mappings())
            key_ids = {r["post_inputs_key_id"] for r in rows}
            keys: dict[str, ApiKey] = {}
            if key_ids:
                query = select(api_keys).where(api_keys.c.id.in_(sorted(key_ids)))
                keys = {r["id"]: api_key_from_row(r) for r in conn.execute(query).mappings()}
            apps = {(r["user_id"], r["app_id"]) for r in rows}
            docs: dict[tuple[str, str, str], dict[str, Any]] = {}
            for user_id, app_id in sorted(apps):
                w = workflows.c
                query = select(workflows).where(w.user_id == user_id, w.app_id == app_id)
                for r in conn.execute(query).mappings():
                    docs[(user_id, app_id, r["id"])] = {
                        "id": r["id"],
                        "description": r["description"],
                        "nodes": r["nodes"],
                    }
        return CollectorSnapshot(
            collectors=[(r["user_id"], r["app_id"], _collector(r)) for r in rows],
            keys=keys,
            workflows=docs,
        )


def _row(collector: Collector) -> dict[str, Any]:
    source = collector.source
    return {
        "id": collector.id,
        "description": collector.description,
        "pre_queue_workflow_id": collector.pre_queue_workflow_id,
        "pre_queue_random_sample": collector.pre_queue_random_sample,
        "post_queue_workflow_id": collector.post_queue_workflow_id,
        **{name: getattr(source, name) for name in SOURCE_FIELDS},
        "collect_outputs": collector.collect_outputs,
        "dataset_id": collector.dataset_id,
        "status": collector.status.value,
    }


def _collector(row: Any) -> Collector:
    return Collector.model_validate(
        {
            "id": row["id"],
            "description": row["description"],
            "created_at": row["created_at"],
            "pre_queue_workflow_id": row["pre_queue_workflow_id"],
            "pre_queue_random_sample": row["pre_queue_random_sample"],
            "post_queue_workflow_id": row["post_queue_workflow_id"],
            "collector_source": {
                "api_post_model_outputs_collector_source": {n: row[n] for n in SOURCE_FIELDS}
            },
            "status": row["status"],
            "collect_outputs": row["collect_outputs"],
            "dataset_id": row["dataset_id"],
        }
    )
