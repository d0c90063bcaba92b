"""The SQL catalog on SQLite (default) or PostgreSQL, through SQLAlchemy 2 Core.

Writes are upserts keyed by deterministic ids, so replays change nothing. Database
errors that may pass (locks, lost connections) surface as TransientError for the
transport to retry.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from connectors.catalog import schema as t
from connectors.catalog.add_jobs import AddJobCatalog
from connectors.catalog.annotations import AnnotationCatalog
from connectors.catalog.blob_refs import BlobRefCatalog
from connectors.catalog.chunks import ChunkCatalog
from connectors.catalog.collectors import CollectorCatalog
from connectors.catalog.datasets import DatasetCatalog
from connectors.catalog.extraction_jobs import ExtractionJobCatalog
from connectors.catalog.input_rows import InputRowsCatalog
from connectors.catalog.inputs import InputCatalog
from connectors.catalog.keys import KeyCatalog
from connectors.catalog.knowledge import KnowledgeCatalog
from connectors.catalog.lineage import LineageCatalog
from connectors.catalog.migrations import migrate
from connectors.catalog.queries import CatalogQueries
from connectors.catalog.quotas import QuotaCatalog
from connectors.catalog.refusals import RefusalCatalog
from connectors.catalog.request_tables import refused_inputs, shown_id
from connectors.catalog.rows import json_text, of_tenant, rows_among, utc_now
from connectors.catalog.upload_commit import commit_batch, unique_runs
from connectors.catalog.versions import VersionCatalog
from connectors.catalog.workflows import WorkflowCatalog
from pipeline.errors import TransientError
from pipeline.ingest.ports import Known, UploadCommit
from pipeline.records import AnnotationRecord, ExistingInput, InputOutcome, InputRecord
from pipeline.status import StatusCode


class SqlCatalog(CatalogQueries):
    """Inputs, annotations, datasets and processed events in one SQL database."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = _engine(url, echo)
        self.dialect = self.engine.dialect.name
        migrate(self.engine)

    # Facets: one per kind of record, each sharing this catalog's engine (built on first use).
    versions = cached_property(VersionCatalog)
    keys = cached_property(KeyCatalog)
    workflows = cached_property(WorkflowCatalog)
    collectors = cached_property(CollectorCatalog)
    jobs = cached_property(ExtractionJobCatalog)
    quotas = cached_property(QuotaCatalog)
    knowledge = cached_property(KnowledgeCatalog)
    chunks = cached_property(ChunkCatalog)
    inputs = cached_property(InputCatalog)
    blob_refs = cached_property(BlobRefCatalog)
    datasets = cached_property(DatasetCatalog)
    annotations = cached_property(AnnotationCatalog)
    lineage = cached_property(LineageCatalog)
    refusals = cached_property(RefusalCatalog)
    add_jobs = cached_property(AddJobCatalog)
    input_rows = cached_property(InputRowsCatalog)

    def describe(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; lock and connection failures become TransientError."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise TransientError(f"catalog unavailable: {exc.orig}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise TransientError(f"catalog connection lost: {exc.orig}") from exc
            raise

    def insert(self, table: Any) -> Any:
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table)

    # -- the ingest stage's port --------------------------------------------------------

    def processed_outcomes(
        self, user_id: str, app_id: str, event_id: str
    ) -> list[InputOutcome] | None:
        return self.known(user_id, app_id, [event_id], ()).processed.get(event_id)

    def existing_inputs(
        self, user_id: str, app_id: str, ids: Collection[str]
    ) -> dict[str, ExistingInput]:
        return dict(self.known(user_id, app_id, (), ids).existing)

    def known(
        self, user_id: str, app_id: str, event_ids: Collection[str], input_ids: Collection[str]
    ) -> Known:
        p, c = t.processed_events.c, t.inputs.c
        done = select(p.event_id, p.outcomes).where(of_tenant(t.processed_events, user_id, app_id))
        held = select(c.id, c.fingerprint, c.status_code).where(
            of_tenant(t.inputs, user_id, app_id)
        )
        with self.begin() as conn:
            processed = {
                r["event_id"]: [InputOutcome.from_dict(d) for d in r["outcomes"]]
                for r in rows_among(conn, done, p.event_id, event_ids)
            }
            existing = {
                r["id"]: ExistingInput(r["id"], r["fingerprint"], r["status_code"])
                for r in rows_among(conn, held, c.id, input_ids)
            }
        return Known(processed, existing)

    def commit_upload(self, upload: UploadCommit) -> None:
        self.commit_uploads([upload])

    def commit_uploads(self, uploads: Sequence[UploadCommit]) -> None:
        with self.begin() as conn:
            commit_batch(self, conn, uploads, utc_now())

    def record_refused(
        self,
        conn: Connection,
        user_id: str,
        app_id: str,
        event_id: str,
        refused: Sequence[InputOutcome],
        now: datetime,
    ) -> None:
        # One row per shown id (the latest refusal): an upsert may touch a row only once.
        rows = {
            shown_id(o.requested_id): {
                "user_id": user_id,
                "app_id": app_id,
                "id": shown_id(o.requested_id),
                "request_id": event_id,
                "status_code": int(o.code),
                "status_message": o.message,
                "refused_at": now,
            }
            for o in refused
        }
        if not rows:
            return
        stmt = self.insert(refused_inputs)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["user_id", "app_id", "id"],
                set_={
                    k: stmt.excluded[k]
                    for k in ("request_id", "status_code", "status_message", "refused_at")
                },
            ),
            list(rows.values()),
        )

    def upsert_annotations(
        self, conn: Connection, records: list[AnnotationRecord], now: datetime
    ) -> None:
        if not records:
            return
        rows = [
            {
                "user_id": a.user_id,
                "app_id": a.app_id,
                "id": a.id,
                "input_id": a.input_id,
                "annotation_user_id": a.annotation_user_id,
                "status": a.status,
                "data": a.data,
                "task_id": a.task_id,
                "model_version_id": a.model_version_id,
                "annotation_info": a.annotation_info,
                "created_at": now,
                "modified_at": now,
            }
            for a in records
        ]
        stmt = self.insert(t.annotations)
        keep = ("user_id", "app_id", "id", "created_at")
        upsert = stmt.on_conflict_do_update(
            index_elements=["user_id", "app_id", "id"],
            set_={k: stmt.excluded[k] for k in rows[0] if k not in keep},
            # An explicit annotation id already on another input stays there: an upload
            # never moves (or takes over) an annotation of another input.
            where=t.annotations.c.input_id == stmt.excluded.input_id,
        )
        for run in unique_runs(rows, lambda r: (r["user_id"], r["app_id"], r["id"])):
            conn.execute(upsert, run)

    def add_memberships(self, conn: Connection, records: list[InputRecord], now: datetime) -> None:
        wanted = {
            (r.user_id, r.app_id, d)
            for r in records
            if r.status_code == StatusCode.INPUT_SUCCESS
            for d in r.dataset_ids
        }
        for user_id, app_id, dataset_id in sorted(wanted):
            self._ensure_dataset(conn, user_id, app_id, dataset_id, now)
        links = [
            {
                "user_id": r.user_id,
                "app_id": r.app_id,
                "dataset_id": d,
                "input_id": r.id,
                "added_at": now,
            }
            for r in records
            if r.status_code == StatusCode.INPUT_SUCCESS
            for d in r.dataset_ids
        ]
        if links:
            conn.execute(
                self.insert(t.dataset_inputs).on_conflict_do_nothing(
                    index_elements=["user_id", "app_id", "dataset_id", "input_id"]
                ),
                links,
            )

    def _ensure_dataset(
        self, conn: Connection, user_id: str, app_id: str, dataset_id: str, now: datetime
    ) -> None:
        conn.execute(self._new_dataset(user_id, app_id, dataset_id, now))


def _engine(url: str, echo: bool) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=json_text,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=8,
        max_overflow=8,
        json_serializer=json_text,
    )
