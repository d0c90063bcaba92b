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

from sqlalchemy import create_engine, delete, event, select
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
from connectors.catalog.rows import input_row, json_text, of_tenant, rows_among, utc_now
from connectors.catalog.versions import VersionCatalog
from connectors.catalog.workflows import WorkflowCatalog
from pipeline.errors import TransientError
from pipeline.ingest.ports import InputsChanged, UploadCommit
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
        p = t.processed_events.c
        with self.begin() as conn:
            row = conn.execute(
                select(p.outcomes).where(
                    p.user_id == user_id, p.app_id == app_id, p.event_id == event_id
                )
            ).first()
        return None if row is None else [InputOutcome.from_dict(d) for d in row[0]]

    def existing_inputs(
        self, user_id: str, app_id: str, ids: Collection[str]
    ) -> dict[str, ExistingInput]:
        c = t.inputs.c
        query = select(c.id, c.fingerprint, c.status_code).where(
            of_tenant(t.inputs, user_id, app_id)
        )
        with self.begin() as conn:
            return {
                r["id"]: ExistingInput(r["id"], r["fingerprint"], r["status_code"])
                for r in rows_among(conn, query, c.id, ids)
            }

    def commit_upload(self, upload: UploadCommit) -> None:
        self.commit_uploads([upload])

    def commit_uploads(self, uploads: Sequence[UploadCommit]) -> None:
        now = utc_now()
        with self.begin() as conn:
            for upload in uploads:
                self._commit_one(conn, upload, now)

    def _commit_one(self, conn: Connection, upload: UploadCommit, now: datetime) -> None:
        user_id, app_id, event_id = upload.user_id, upload.app_id, upload.event_id
        # The event's row first: it is a write, so on SQLite this transaction holds the
        # write lock from here on and what it reads below cannot change before it commits.
        claimed = conn.execute(
            self.insert(t.processed_events)
            .values(
                user_id=user_id,
                app_id=app_id,
                event_id=event_id,
                stage="ingest",
                outcomes=[o.to_dict() for o in upload.outcomes],
                processed_at=now,
            )
            .on_conflict_do_nothing(index_elements=["user_id", "app_id", "event_id"])
            .returning(t.processed_events.c.event_id)
        ).first()
        if claimed is None:
            raise InputsChanged(f"request {event_id} was processed by another worker")
        self._write_inputs(conn, upload, now)
        self._drop_replaced(conn, upload)
        self.upsert_annotations(conn, upload.annotations, now)
        self.add_memberships(conn, upload.inputs, now)
        self.record_refused(conn, user_id, app_id, event_id, upload.refused, now)

    def _drop_replaced(self, conn: Connection, upload: UploadCommit) -> None:
        """An updated input loses what its earlier upload brought (UploadCommit.replaced);
        what the new upload sends again keeps its row (and its creation time)."""
        a = t.annotations.c
        sent: dict[str, set[str]] = {}
        for ann in upload.annotations:
            sent.setdefault(ann.input_id, set()).add(ann.id)
        for r in upload.replaced:
            conn.execute(
                delete(t.annotations).where(
                    of_tenant(t.annotations, upload.user_id, upload.app_id),
                    a.input_id == r.input_id,
                    a.annotation_user_id.in_(sorted(r.users)),
                    a.id.not_in(sorted(sent.get(r.input_id, ()))),
                )
            )

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

    def _write_inputs(self, conn: Connection, upload: UploadCommit, now: datetime) -> None:
        """The rows, where the plan's view of each id still holds (the catalog decides races:
        a new id goes in only if nobody inserted it meanwhile, a known id is overwritten only
        if it still holds what the plan saw); otherwise InputsChanged and nothing is kept."""
        expected = upload.expected
        rows = sorted((input_row(r, now) for r in upload.inputs), key=lambda r: r["id"])
        fresh = [r for r in rows if r["id"] in expected and expected[r["id"]] is None]
        if fresh:
            stmt = self.insert(t.inputs).on_conflict_do_nothing(
                index_elements=["user_id", "app_id", "id"]
            )
            inserted = set(conn.execute(stmt.returning(t.inputs.c.id), fresh).scalars())
            lost = [r["id"] for r in fresh if r["id"] not in inserted]
            if lost:
                raise InputsChanged(f"input ids created by another request meanwhile: {lost[:5]}")
        known = [r for r in rows if expected.get(r["id"]) is not None]
        if known:
            c = t.inputs.c
            query = select(c.id, c.fingerprint).where(
                of_tenant(t.inputs, upload.user_id, upload.app_id)
            )
            if self.dialect == "postgresql":
                query = query.with_for_update()  # held until commit: the check stays true
            now_held = {r["id"]: r["fingerprint"] for r in rows_among(conn, query, c.id, expected)}
            changed = [r["id"] for r in known if now_held.get(r["id"]) != expected[r["id"]]]
            if changed:
                raise InputsChanged(f"inputs changed by another request meanwhile: {changed[:5]}")
        inserted_now = {r["id"] for r in fresh}
        self._upsert_inputs(conn, [r for r in rows if r["id"] not in inserted_now])

    def _upsert_inputs(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        stmt = self.insert(t.inputs)
        updated = {
            name: stmt.excluded[name]
            for name in rows[0]
            if name not in ("user_id", "app_id", "id", "created_at")
        }
        # Same fingerprint means same content: leave the row (and its times) alone.
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["user_id", "app_id", "id"],
                set_=updated,
                where=t.inputs.c.fingerprint != stmt.excluded.fingerprint,
            ),
            rows,
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
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["user_id", "app_id", "id"],
                set_={k: stmt.excluded[k] for k in rows[0] if k not in keep},
                # An explicit annotation id already on another input stays there: an upload
                # never moves (or takes over) an annotation of another input.
                where=t.annotations.c.input_id == stmt.excluded.input_id,
            ),
            rows,
        )

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
