"""Where inputs came from: the lineage columns of `inputs` as one view per input.

`source` is the kind (api, folder, csv, s3, collector), `run_id` the import run, `job_id`
the extraction job, `source_uri`/`source_etag` the file path, URL or S3 object, and for
captures `collector_id` and `event_id`; a chunk names its `parent_input_id`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from connectors.catalog import chunk_tables  # noqa: F401 - adds parent_input_id to `inputs`
from connectors.catalog import schema as t
from connectors.catalog.rows import of_tenant, rows_among

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog

VIEW = (
    "source",
    "run_id",
    "job_id",
    "request_id",
    "source_uri",
    "source_etag",
    "collector_id",
    "event_id",
    "parent_input_id",
)
VIEW_COLUMNS = [t.inputs.c[name] for name in ("id", *VIEW)]


def lineage_view(row: Any) -> dict[str, Any]:
    """The lineage of one `inputs` row, in the order people read it."""
    return {name: row.get(name) for name in VIEW}


class LineageCatalog:
    """The lineage of an app's inputs, by id."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def of(self, user_id: str, app_id: str, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """Input id -> lineage, for the ids that are stored."""
        query = select(*VIEW_COLUMNS).where(of_tenant(t.inputs, user_id, app_id))
        with self.catalog.begin() as conn:
            rows = rows_among(conn, query, t.inputs.c.id, ids)
            return {row["id"]: lineage_view(row) for row in rows}

    def get(self, user_id: str, app_id: str, input_id: str) -> dict[str, Any] | None:
        return self.of(user_id, app_id, [input_id]).get(input_id)
