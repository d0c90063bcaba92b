"""Oversized inputs and their chunks in the catalog (the media stage's port).

A chunk is an ordinary row of `inputs` with its parent's id, its index among the parent's
chunks and its span; the parent keeps its original blob, gets `chunk_count` and lists
its chunk ids in its metadata. All of one split is written in one transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.engine import Connection

from connectors.catalog import add_jobs
from connectors.catalog import schema as t
from connectors.catalog.batching import in_batches
from connectors.catalog.rows import input_row, of_tenant, rows_among, utc_now
from pipeline.ids import fingerprint
from pipeline.media.chunking.records import ChunkLink, MediaParent
from pipeline.media.ports import ChunkCommit
from pipeline.records import LINEAGE_FIELDS, Action, InputOutcome, InputRecord, add_job_of
from pipeline.status import StatusCode

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog


class ChunkCatalog:
    """Parents waiting for the media stage, and the chunks it writes."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def media_parents(
        self, user_id: str, app_id: str, ids: Collection[str]
    ) -> dict[str, MediaParent]:
        c = t.inputs.c
        query = select(t.inputs).where(
            of_tenant(t.inputs, user_id, app_id), c.blob_key.is_not(None)
        )
        with self.catalog.begin() as conn:
            return {row["id"]: _parent(row) for row in rows_among(conn, query, c.id, ids)}

    def chunks_of(self, user_id: str, app_id: str, parent_id: str) -> list[dict[str, Any]]:
        """The chunk rows of a parent, in order."""
        c = t.inputs.c
        with self.catalog.begin() as conn:
            rows = conn.execute(
                select(t.inputs)
                .where(c.user_id == user_id, c.app_id == app_id, c.parent_input_id == parent_id)
                .order_by(c.chunk_index)
            ).mappings()
            return [dict(r) for r in rows]

    def commit_chunks(self, split: ChunkCommit) -> list[str]:
        parent, chunks, annotations = split.parent, split.chunks, split.annotations
        summary = split.summary
        c = t.inputs.c
        now = utc_now()
        ids = [record.id for record, _ in chunks]
        with self.catalog.begin() as conn:
            taken = conn.execute(
                select(c.id).where(
                    c.user_id == parent.user_id,
                    c.app_id == parent.app_id,
                    c.id.in_(ids),
                    (c.parent_input_id.is_(None)) | (c.parent_input_id != parent.id),
                )
            ).scalars()
            clash = sorted(taken)
            if clash:
                return clash
            if not _still_pending(conn, parent):
                return []  # another worker finished (or the input was replaced): keep theirs
            self._upsert_chunks(conn, chunks, now)
            _drop_stale(conn, parent, ids, {a.id for a in annotations})
            self.catalog.upsert_annotations(conn, annotations, now)
            self.catalog.add_memberships(conn, [record for record, _ in chunks], now)
            conn.execute(
                update(t.inputs)
                .where(*_parent_row(parent))
                .values(
                    status_code=int(StatusCode.INPUT_SUCCESS),
                    status_message=f"split into {len(chunks)} chunk(s) ({summary.get('mode')})",
                    chunk_count=len(chunks),
                    metadata={**parent.metadata, "chunks": summary},
                    modified_at=now,
                )
            )
            self._processed(conn, split.task_id, parent, StatusCode.INPUT_SUCCESS, "", now)
            _finish_in_job(conn, parent, "succeeded", now)
        return []

    def fail_media(self, task_id: str, parent: MediaParent, code: int, message: str) -> None:
        now = utc_now()
        with self.catalog.begin() as conn:
            if not _still_pending(conn, parent):
                return
            # A new fingerprint, so sending the same content again retries (as for any
            # failed input) instead of counting as unchanged.
            failed = fingerprint({"failed": message, "content": parent.fingerprint})
            conn.execute(
                update(t.inputs)
                .where(*_parent_row(parent))
                .values(
                    status_code=code, status_message=message, fingerprint=failed, modified_at=now
                )
            )
            self._processed(conn, task_id, parent, StatusCode(code), message, now)
            _finish_in_job(conn, parent, "failed", now)

    def forget_chunks(self, user_id: str, app_id: str, parent_ids: Collection[str]) -> None:
        if not parent_ids:
            return
        c = t.inputs.c
        with self.catalog.begin() as conn:
            for parent_id in parent_ids:
                _delete_chunks(conn, user_id, app_id, parent_id, keep=())
                conn.execute(
                    update(t.inputs)
                    .where(c.user_id == user_id, c.app_id == app_id, c.id == parent_id)
                    .values(chunk_count=None)
                )

    # -- helpers ----------------------------------------------------------------------

    def _upsert_chunks(
        self, conn: Connection, chunks: list[tuple[InputRecord, ChunkLink]], now: datetime
    ) -> None:
        rows = [{**input_row(record, now), **_link(link)} for record, link in chunks]
        stmt = self.catalog.insert(t.inputs)
        keep = ("user_id", "app_id", "id", "created_at")
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["user_id", "app_id", "id"],
                set_={k: stmt.excluded[k] for k in rows[0] if k not in keep},
                where=t.inputs.c.fingerprint != stmt.excluded.fingerprint,
            ),
            rows,
        )

    def _processed(
        self,
        conn: Connection,
        task_id: str,
        parent: MediaParent,
        code: StatusCode,
        message: str,
        now: datetime,
    ) -> None:
        action = Action.UPDATED if code == StatusCode.INPUT_SUCCESS else Action.FAILED
        outcome = InputOutcome(0, parent.id, parent.id, action, code, message)
        conn.execute(
            self.catalog.insert(t.processed_events)
            .values(
                user_id=parent.user_id,
                app_id=parent.app_id,
                event_id=task_id,
                stage="media",
                outcomes=[outcome.to_dict()],
                processed_at=now,
            )
            .on_conflict_do_nothing(index_elements=["user_id", "app_id", "event_id"])
        )


def _finish_in_job(conn: Connection, parent: MediaParent, outcome: str, now: datetime) -> None:
    """The input leaves its add-job's in-progress count (once: it was still pending)."""
    job = add_job_of(parent.lineage.get("run_id"), parent.job_id)
    if job is not None:
        delta = Counter({"in_progress": -1, outcome: 1})
        add_jobs.count(conn, {(parent.user_id, parent.app_id, job): delta}, now)


def _parent_row(parent: MediaParent) -> tuple[Any, ...]:
    c = t.inputs.c
    return (
        c.user_id == parent.user_id,
        c.app_id == parent.app_id,
        c.id == parent.id,
        c.blob_key == parent.blob_key,
    )


def _still_pending(conn: Connection, parent: MediaParent) -> bool:
    code = conn.execute(select(t.inputs.c.status_code).where(*_parent_row(parent))).scalar()
    return code == StatusCode.INPUT_PENDING


def _drop_stale(
    conn: Connection, parent: MediaParent, ids: list[str], annotation_ids: set[str]
) -> None:
    """Chunks of an earlier split beyond this one's count, and annotations no longer placed."""
    _delete_chunks(conn, parent.user_id, parent.app_id, parent.id, keep=ids)
    a = t.annotations.c
    present = conn.execute(
        select(a.id).where(
            a.user_id == parent.user_id, a.app_id == parent.app_id, a.input_id.in_(ids)
        )
    ).scalars()
    stale = [x for x in present if x not in annotation_ids]
    for batch in in_batches(stale):
        conn.execute(
            delete(t.annotations).where(
                a.user_id == parent.user_id,
                a.app_id == parent.app_id,
                a.id.in_(batch),
            )
        )


def _delete_chunks(
    conn: Connection, user_id: str, app_id: str, parent_id: str, keep: Collection[str]
) -> None:
    c = t.inputs.c
    old = [
        x
        for x in conn.execute(
            select(c.id).where(
                c.user_id == user_id, c.app_id == app_id, c.parent_input_id == parent_id
            )
        ).scalars()
        if x not in set(keep)
    ]
    for part in in_batches(old):
        a, m = t.annotations.c, t.dataset_inputs.c
        conn.execute(
            delete(t.annotations).where(
                and_(a.user_id == user_id, a.app_id == app_id, a.input_id.in_(part))
            )
        )
        conn.execute(
            delete(t.dataset_inputs).where(
                and_(m.user_id == user_id, m.app_id == app_id, m.input_id.in_(part))
            )
        )
        conn.execute(
            delete(t.inputs).where(c.user_id == user_id, c.app_id == app_id, c.id.in_(part))
        )


def _link(link: ChunkLink) -> dict[str, Any]:
    return {
        "parent_input_id": link.parent_input_id,
        "chunk_index": link.chunk_index,
        "chunk_count": link.chunk_count,
        "start_ms": link.start_ms,
        "end_ms": link.end_ms,
        "start_offset": link.start_offset,
        "end_offset": link.end_offset,
    }


def _parent(row: Any) -> MediaParent:
    return MediaParent(
        user_id=row["user_id"],
        app_id=row["app_id"],
        id=row["id"],
        media_type=row["media_type"] or "",
        format=row["format"],
        status_code=row["status_code"],
        blob_key=row["blob_key"],
        sha256=row["sha256"] or "",
        size=row["size"] or 0,
        fingerprint=row["fingerprint"],
        concepts=list(row["concepts"] or []),
        metadata=dict(row["metadata"] or {}),
        geo=row["geo"],
        request_id=row["request_id"],
        job_id=row["job_id"],
        source=row["source"],
        lineage={k: row[k] for k in LINEAGE_FIELDS},
    )
