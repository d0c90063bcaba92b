"""Dataset versions in the SQL catalog: the snapshot stage's port and the CLI's queries.

The snapshot reads a dataset in one consistent transaction (REPEATABLE READ on
PostgreSQL, an explicit read transaction on SQLite), a page of inputs at a time by keyset
on the input id, so memory stays flat whatever the dataset's size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from connectors.catalog import schema as t
from connectors.catalog.rows import from_row, utc_now
from connectors.catalog.versions_reader import DatasetReader
from connectors.catalog.versions_tables import dataset_versions as v
from pipeline.snapshot.ports import ReadyVersion, VersionRow
from pipeline.status import StatusCode

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog

_READY = int(StatusCode.DATASET_VERSION_READY)


class VersionCatalog:
    """Implements pipeline.snapshot.ports.VersionCatalog on a SqlCatalog."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    # -- the snapshot stage's port ------------------------------------------------------

    def dataset_default_filter(
        self, user_id: str, app_id: str, dataset_id: str
    ) -> tuple[bool, Any]:
        d = t.datasets.c
        with self.catalog.begin() as conn:
            row = conn.execute(
                select(d.default_filter).where(
                    d.user_id == user_id, d.app_id == app_id, d.id == dataset_id
                )
            ).first()
        return (row is not None, row[0] if row is not None else None)

    def claim_version(self, draft: VersionRow) -> VersionRow:
        now = utc_now()
        with self.catalog.begin() as conn:
            conn.execute(
                self.catalog.insert(v)
                .values(
                    user_id=draft.user_id,
                    app_id=draft.app_id,
                    id=draft.id,
                    dataset_id=draft.dataset_id,
                    status_code=draft.status_code,
                    status_message="",
                    description=draft.description,
                    metadata=draft.metadata,
                    request_origin=draft.request_origin,
                    request_id=draft.request_id,
                    request_fingerprint=draft.request_fingerprint,
                    export_formats=draft.export_formats,
                    export_info={},
                    progress=0,
                    created_at=now,
                    modified_at=now,
                )
                .on_conflict_do_nothing(index_elements=["user_id", "app_id", "id"])
            )
            row = self._get(conn, draft.user_id, draft.app_id, draft.id)
        assert row is not None
        return row

    def mark_in_progress(
        self, user_id: str, app_id: str, version_id: str, config: dict[str, Any]
    ) -> None:
        self._update(
            user_id,
            app_id,
            version_id,
            status_code=int(StatusCode.DATASET_VERSION_IN_PROGRESS),
            status_message="",
            annotation_filter_config=config,
            progress=0,
        )

    def record_progress(
        self, user_id: str, app_id: str, version_id: str, done: int, total: int
    ) -> None:
        self._update(user_id, app_id, version_id, progress=done, total=total)

    def mark_ready(self, user_id: str, app_id: str, version_id: str, ready: ReadyVersion) -> bool:
        return self._update(
            user_id,
            app_id,
            version_id,
            status_code=_READY,
            status_message="",
            **asdict(ready),
        )

    def mark_failed(
        self, user_id: str, app_id: str, version_id: str, code: int, message: str
    ) -> None:
        self._update(user_id, app_id, version_id, status_code=code, status_message=message)

    def get_version(self, user_id: str, app_id: str, version_id: str) -> VersionRow | None:
        with self.catalog.begin() as conn:
            return self._get(conn, user_id, app_id, version_id)

    @contextmanager
    def read_dataset(self, user_id: str, app_id: str, dataset_id: str) -> Iterator[DatasetReader]:
        with self.catalog.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            else:
                # pysqlite runs SELECTs outside a transaction; BEGIN pins one WAL snapshot.
                conn.exec_driver_sql("BEGIN")
            yield DatasetReader(conn, user_id, app_id, dataset_id)

    # -- what the CLI needs -------------------------------------------------------------

    def list_versions(self, user_id: str, app_id: str, dataset_id: str) -> list[VersionRow]:
        with self.catalog.begin() as conn:
            rows = conn.execute(
                select(v)
                .where(v.c.user_id == user_id, v.c.app_id == app_id, v.c.dataset_id == dataset_id)
                .order_by(v.c.created_at, v.c.id)
            ).mappings()
            return [_row(r) for r in rows]

    def delete_version(self, user_id: str, app_id: str, version_id: str) -> VersionRow | None:
        """Remove the version's row; returns it (its blobs are the caller's to delete)."""
        with self.catalog.begin() as conn:
            row = self._get(conn, user_id, app_id, version_id)
            if row is not None:
                conn.execute(v.delete().where(*_pk(user_id, app_id, version_id)))
        return row

    def update_version(
        self,
        user_id: str,
        app_id: str,
        version_id: str,
        *,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> VersionRow | None:
        """Change what describes a version (never its content)."""
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = description
        if metadata is not None:
            values["metadata"] = metadata
        with self.catalog.begin() as conn:
            if values:
                conn.execute(
                    v.update()
                    .where(*_pk(user_id, app_id, version_id))
                    .values(**values, modified_at=utc_now())
                )
            return self._get(conn, user_id, app_id, version_id)

    def record_export(
        self, user_id: str, app_id: str, version_id: str, fmt: str, info: dict[str, Any]
    ) -> None:
        with self.catalog.begin() as conn:
            current = conn.execute(
                select(v.c.export_info).where(*_pk(user_id, app_id, version_id)).with_for_update()
            ).scalar_one()
            conn.execute(
                v.update()
                .where(*_pk(user_id, app_id, version_id))
                .values(export_info={**(current or {}), fmt: info}, modified_at=utc_now())
            )

    def set_default_filter(
        self, user_id: str, app_id: str, dataset_id: str, config: dict[str, Any] | None
    ) -> bool:
        d = t.datasets.c
        with self.catalog.begin() as conn:
            result = conn.execute(
                t.datasets.update()
                .where(d.user_id == user_id, d.app_id == app_id, d.id == dataset_id)
                .values(default_filter=config, modified_at=utc_now())
            )
        return bool(result.rowcount)

    # -- helpers ------------------------------------------------------------------------

    def _get(
        self, conn: Connection, user_id: str, app_id: str, version_id: str
    ) -> VersionRow | None:
        row = conn.execute(select(v).where(*_pk(user_id, app_id, version_id))).mappings().first()
        return _row(row) if row is not None else None

    def _update(self, user_id: str, app_id: str, version_id: str, **values: Any) -> bool:
        # A ready version never changes: every state write skips it.
        with self.catalog.begin() as conn:
            result = conn.execute(
                v.update()
                .where(*_pk(user_id, app_id, version_id), v.c.status_code != _READY)
                .values(**values, modified_at=utc_now())
            )
        return bool(result.rowcount)


def _pk(user_id: str, app_id: str, version_id: str) -> tuple[Any, ...]:
    return (v.c.user_id == user_id, v.c.app_id == app_id, v.c.id == version_id)


def _row(r: Any) -> VersionRow:
    return from_row(
        VersionRow,
        r,
        metadata=r["metadata"] or {},
        export_formats=r["export_formats"] or [],
        export_info=r["export_info"] or {},
    )
