"""Workflows of an app in the catalog, stored as their validated documents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select

from connectors.catalog.collectors_tables import collectors, workflows
from connectors.catalog.rows import by_id, first_row, page_query, utc_now
from pipeline.collect.workflows.graph import WorkflowSpec

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog


class WorkflowCatalog:
    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def save(self, user_id: str, app_id: str, spec: WorkflowSpec, *, replace: bool) -> bool:
        """Store a workflow; False when the id exists and `replace` is not set."""
        now = utc_now()
        doc = spec.model_dump(mode="json", exclude={"id", "description"})
        row = {
            "user_id": user_id,
            "app_id": app_id,
            "id": spec.id,
            "description": spec.description,
            "nodes": doc["nodes"],
            "created_at": now,
            "modified_at": now,
        }
        stmt = self.catalog.insert(workflows).values(**row)
        if replace:
            stmt = stmt.on_conflict_do_update(
                index_elements=["user_id", "app_id", "id"],
                set_={"description": spec.description, "nodes": doc["nodes"], "modified_at": now},
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=["user_id", "app_id", "id"])
        with self.catalog.begin() as conn:
            # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT.
            stored = conn.execute(stmt.returning(workflows.c.id)).first()
        return stored is not None

    def get(self, user_id: str, app_id: str, workflow_id: str) -> dict[str, Any] | None:
        query = select(workflows).where(by_id(workflows, user_id, app_id, workflow_id))
        with self.catalog.begin() as conn:
            row = first_row(conn, query)
        return None if row is None else _doc(row)

    def exists(self, user_id: str, app_id: str, workflow_id: str) -> bool:
        return self.get(user_id, app_id, workflow_id) is not None

    def for_app(
        self, user_id: str, app_id: str, *, after_id: str = "", limit: int = 100
    ) -> list[dict[str, Any]]:
        query = page_query(workflows, user_id, app_id, after_id, limit)
        with self.catalog.begin() as conn:
            return [_doc(r) for r in conn.execute(query).mappings()]

    def used_by(self, user_id: str, app_id: str, workflow_id: str) -> list[str]:
        """Collectors of the app that run this workflow."""
        c = collectors.c
        query = select(c.id).where(
            c.user_id == user_id,
            c.app_id == app_id,
            or_(c.pre_queue_workflow_id == workflow_id, c.post_queue_workflow_id == workflow_id),
        )
        with self.catalog.begin() as conn:
            return list(conn.execute(query.order_by(c.id)).scalars())

    def delete(self, user_id: str, app_id: str, workflow_id: str) -> bool:
        with self.catalog.begin() as conn:
            result = conn.execute(
                delete(workflows).where(by_id(workflows, user_id, app_id, workflow_id))
            )
        return bool(result.rowcount)


def _doc(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "description": row["description"],
        "nodes": row["nodes"],
        "created_at": row["created_at"],
        "modified_at": row["modified_at"],
    }
