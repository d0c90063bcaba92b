"""Stored inputs by id, many at once: the rows `get_input` gives, in three queries for a whole
batch of ids instead of three per id (`ingestd serve`'s ListInputs with ids, which the SDK
sends after every upload batch)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from connectors.catalog import schema as t
from connectors.catalog.rows import of_tenant, rows_among

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog


class InputRowsCatalog:
    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def by_ids(self, user_id: str, app_id: str, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The stored inputs among `ids` (as `get_input` gives each), by id."""
        a, m = t.annotations, t.dataset_inputs
        with self.catalog.begin() as conn:
            query = select(t.inputs).where(of_tenant(t.inputs, user_id, app_id))
            rows = {r["id"]: dict(r) for r in rows_among(conn, query, t.inputs.c.id, ids)}
            for row in rows.values():
                row["annotations"], row["dataset_ids"] = [], []
            anns = select(a).where(of_tenant(a, user_id, app_id)).order_by(a.c.id)
            for ann in rows_among(conn, anns, a.c.input_id, list(rows)):
                rows[ann["input_id"]]["annotations"].append(dict(ann))
            sets = (
                select(m.c.input_id, m.c.dataset_id)
                .where(of_tenant(m, user_id, app_id))
                .order_by(m.c.dataset_id)
            )
            for link in rows_among(conn, sets, m.c.input_id, list(rows)):
                rows[link["input_id"]]["dataset_ids"].append(link["dataset_id"])
        return rows
