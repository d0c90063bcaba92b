"""Changing stored inputs in the SQL catalog: patch and delete, a batch of ids at a time.

Each batch is one transaction: the rows are read (locked on PostgreSQL), each input's outcome
decided, and every change of the batch written together, so a failure leaves nothing
half-written. Every statement is scoped to the app: another app's ids are never touched
(they do not exist here). Ready dataset versions are not touched either: their manifests,
in the blob store, keep what they froze.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.engine import Connection

from connectors.catalog import schema as t
from connectors.catalog.batching import in_batches
from connectors.catalog.chunks import _delete_chunks
from connectors.catalog.rows import of_tenant, utc_now
from connectors.catalog.search import (
    SearchPage,
    count_matching,
    matching_id_pages,
    search_page,
)
from pipeline.errors import InputError
from pipeline.ingest.manage import (
    InputPatch,
    ManageOutcome,
    apply_patch,
    not_found,
    patched_fingerprint,
)
from pipeline.limits import Limits
from pipeline.records import AnnotationRecord, InputRecord, input_level_annotation
from pipeline.search import InputQuery, decode_cursor, encode_cursor
from pipeline.status import StatusCode

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog

_PAGING: dict[str, Any] = {"limit": 1, "cursor": None, "after_id": None}
_BUSY = (int(StatusCode.INPUT_PENDING), int(StatusCode.INPUT_IN_PROGRESS))


class InputCatalog:
    """Search an app's inputs; patch and delete them by id."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def search(self, user_id: str, app_id: str, query: InputQuery) -> SearchPage:
        """One page of the inputs matching `query`; InputError 40002 for a foreign cursor."""
        with self.catalog.begin() as conn:
            return search_page(conn, query, user_id, app_id)

    def listing(self, user_id: str, app_id: str, query: InputQuery) -> SearchPage:
        """`search`, except that a search for failed inputs alone also lists the ids refused
        before they were stored (they have no other field a filter could match)."""
        if query.model_copy(update=_PAGING) != InputQuery(failed=True, **_PAGING):
            return self.search(user_id, app_id, query)
        start = decode_cursor(query)
        after = start[1] if start else query.after_id or ""
        rows = self.catalog.list_inputs(
            user_id, app_id, after_id=after, limit=query.limit + 1, failed_only=True
        )
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        return SearchPage(rows, encode_cursor(query, rows[-1]) if more else None)

    def count(self, user_id: str, app_id: str, query: InputQuery) -> int:
        with self.catalog.begin() as conn:
            return count_matching(conn, query, user_id, app_id)

    def matching_ids(self, user_id: str, app_id: str, query: InputQuery) -> Iterator[list[str]]:
        """Every input id matching `query` (paging fields aside), a page at a time."""
        return matching_id_pages(self.catalog.begin, query, user_id, app_id)

    def dataset_input_ids(self, user_id: str, app_id: str, dataset_id: str) -> list[str] | None:
        """The ids of the dataset's inputs in id order; None when there is no such dataset."""
        m = t.dataset_inputs.c
        with self.catalog.begin() as conn:
            found = conn.execute(
                select(t.datasets.c.id).where(
                    of_tenant(t.datasets, user_id, app_id), t.datasets.c.id == dataset_id
                )
            ).first()
            if found is None:
                return None
            return list(
                conn.execute(
                    select(m.input_id)
                    .where(of_tenant(t.dataset_inputs, user_id, app_id), m.dataset_id == dataset_id)
                    .order_by(m.input_id)
                ).scalars()
            )

    def patch_inputs(
        self,
        user_id: str,
        app_id: str,
        ids: Sequence[str],
        change: InputPatch,
        limits: Limits,
    ) -> list[ManageOutcome]:
        """Patch each input with `change`; one outcome per distinct id, in order."""
        out: dict[str, ManageOutcome] = {}
        for batch in in_batches(list(dict.fromkeys(ids))):
            with self.catalog.begin() as conn:
                rows = _rows(conn, user_id, app_id, batch, lock=True)
                writes = _PatchWrites()
                for input_id in batch:
                    row = rows.get(input_id)
                    out[input_id] = (
                        not_found(input_id)
                        if row is None
                        else _patch_one(writes, user_id, row, change, limits)
                    )
                self._write(conn, user_id, app_id, writes)
        return list(out.values())

    def _write(self, conn: Connection, user_id: str, app_id: str, writes: _PatchWrites) -> None:
        """A batch's changes, one executemany per statement (a round trip per input made a
        patch of 100,000 inputs take minutes on PostgreSQL)."""
        now = utc_now()
        c, a = t.inputs.c, t.annotations.c
        if writes.rows:
            stmt = (
                update(t.inputs)
                .where(of_tenant(t.inputs, user_id, app_id), c.id == bindparam("b_id"))
                .values(
                    concepts=bindparam("b_concepts"),
                    metadata=bindparam("b_metadata"),
                    geo=bindparam("b_geo"),
                    fingerprint=bindparam("b_fingerprint"),
                    modified_at=now,
                )
            )
            conn.execute(stmt, writes.rows)
        self.catalog.upsert_annotations(conn, writes.levels, now)
        if writes.unlabelled:
            conn.execute(
                delete(t.annotations).where(
                    of_tenant(t.annotations, user_id, app_id), a.id.in_(writes.unlabelled)
                )
            )

    def delete_inputs(self, user_id: str, app_id: str, ids: Sequence[str]) -> list[ManageOutcome]:
        """Delete inputs, their annotations, dataset memberships and chunks, a batch per
        transaction. Their blobs stay until `ingestd gc` finds nothing references them."""
        out: dict[str, ManageOutcome] = {}
        for batch in in_batches(list(dict.fromkeys(ids))):
            with self.catalog.begin() as conn:
                rows = _rows(conn, user_id, app_id, batch, lock=True)
                present = [i for i in batch if i in rows]
                for input_id in present:
                    if rows[input_id].get("chunk_count"):
                        _delete_chunks(conn, user_id, app_id, input_id, keep=())
                _delete_rows(conn, user_id, app_id, present)
                for input_id in batch:
                    if input_id not in rows:
                        out[input_id] = not_found(input_id)
                        continue
                    chunks = rows[input_id].get("chunk_count")
                    note = f"with its {chunks} chunk(s)" if chunks else ""
                    out[input_id] = ManageOutcome(input_id, StatusCode.SUCCESS, note, "deleted")
        return list(out.values())


@dataclass
class _PatchWrites:
    """What a batch of patches writes: input rows, input-level annotations to upsert and the
    ids of those to delete (their input has no concept left)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    levels: list[AnnotationRecord] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)


def _patch_one(
    writes: _PatchWrites,
    user_id: str,
    row: dict[str, Any],
    change: InputPatch,
    limits: Limits,
) -> ManageOutcome:
    input_id = row["id"]
    if row["status_code"] in _BUSY:
        # The media stage rewrites a pending input when it finishes; a patch now would be
        # lost (or stop the stage from recognising its input).
        return ManageOutcome(
            input_id,
            StatusCode.INPUT_MODIFY_FAILED,
            f"input {input_id!r} is still being processed "
            f"({StatusCode(row['status_code']).name}); patch it once it is done",
        )
    try:
        data = apply_patch(change, row, limits)
    except InputError as exc:
        return ManageOutcome(input_id, exc.code, f"input {input_id!r}: {exc.message}")
    writes.rows.append(
        {
            "b_id": input_id,
            "b_concepts": data.concepts,
            "b_metadata": data.metadata,
            "b_geo": data.geo,
            "b_fingerprint": patched_fingerprint(row["fingerprint"], data),
        }
    )
    if data.concepts != row["concepts"]:
        # The input-level annotation holds the input's own concepts (what versions export);
        # rewritten only when they changed (a metadata patch leaves it as it is).
        record = InputRecord(
            user_id=row["user_id"],
            app_id=row["app_id"],
            id=input_id,
            media_type=row["media_type"],
            status_code=StatusCode(row["status_code"]),
            concepts=data.concepts,
        )
        level = input_level_annotation(record, user_id)
        if data.concepts:
            writes.levels.append(level)
        else:
            writes.unlabelled.append(level.id)
    return ManageOutcome(input_id, StatusCode.INPUT_MODIFY_SUCCESS, "", "patched")


def _rows(
    conn: Connection, user_id: str, app_id: str, ids: Sequence[str], *, lock: bool
) -> dict[str, dict[str, Any]]:
    c = t.inputs.c
    query = select(t.inputs).where(of_tenant(t.inputs, user_id, app_id), c.id.in_(list(ids)))
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {r["id"]: dict(r) for r in conn.execute(query).mappings()}


def _delete_rows(conn: Connection, user_id: str, app_id: str, ids: Sequence[str]) -> None:
    if not ids:
        return
    a, m, c = t.annotations.c, t.dataset_inputs.c, t.inputs.c
    tenant = (user_id, app_id)
    conn.execute(
        delete(t.annotations).where(
            and_(a.user_id == tenant[0], a.app_id == tenant[1], a.input_id.in_(ids))
        )
    )
    conn.execute(
        delete(t.dataset_inputs).where(
            and_(m.user_id == tenant[0], m.app_id == tenant[1], m.input_id.in_(ids))
        )
    )
    conn.execute(
        delete(t.inputs).where(and_(c.user_id == tenant[0], c.app_id == tenant[1], c.id.in_(ids)))
    )
