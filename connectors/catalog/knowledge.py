"""The app's concept relations (knowledge graph) in the catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from connectors.catalog.collectors_tables import concept_relations
from connectors.catalog.rows import utc_now

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog


class KnowledgeCatalog:
    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def add(self, user_id: str, app_id: str, subject: str, predicate: str, obj: str) -> bool:
        """Record a relation; False when it was already there."""
        now = utc_now()
        stmt = (
            self.catalog.insert(concept_relations)
            .values(
                user_id=user_id,
                app_id=app_id,
                subject=subject,
                predicate=predicate,
                object=obj,
                created_at=now,
                modified_at=now,
            )
            .on_conflict_do_nothing(
                index_elements=["user_id", "app_id", "subject", "predicate", "object"]
            )
            .returning(concept_relations.c.subject)  # not rowcount: -1 on psycopg
        )
        with self.catalog.begin() as conn:
            return conn.execute(stmt).first() is not None

    def relations(self, user_id: str, app_id: str) -> list[tuple[str, str, str]]:
        c = concept_relations.c
        query = (
            select(c.subject, c.predicate, c.object)
            .where(c.user_id == user_id, c.app_id == app_id)
            .order_by(c.subject, c.predicate, c.object)
        )
        with self.catalog.begin() as conn:
            return [(s, p, o) for s, p, o in conn.execute(query)]

    def remove(self, user_id: str, app_id: str, subject: str, predicate: str, obj: str) -> bool:
        c = concept_relations.c
        with self.catalog.begin() as conn:
            result = conn.execute(
                delete(concept_relations).where(
                    c.user_id == user_id,
                    c.app_id == app_id,
                    c.subject == subject,
                    c.predicate == predicate,
                    c.object == obj,
                )
            )
        return bool(result.rowcount)
