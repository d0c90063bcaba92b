"""Annotations as records of their own in the SQL catalog: add, list, patch and delete.

Each batch is one transaction (rows locked on PostgreSQL while a patch or add decides), so
a failure leaves nothing half-written; every statement is scoped to the app, so another
app's ids are never touched: they are simply not found here. What is acceptable is decided
in pipeline/annotation_changes.py; this module only reads and writes rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, literal_column, select, update
from sqlalchemy.engine import Connection

from connectors.catalog import schema as t
from connectors.catalog.batching import in_batches
from connectors.catalog.rows import of_tenant, utc_now
from pipeline.annotation_changes import (
    AnnotationAction,
    AnnotationOutcome,
    as_platform,
    content,
    failed,
    input_level_refused,
    is_input_level,
    not_found,
    patched_record,
)
from pipeline.errors import InputError
from pipeline.patching import PatchAction
from pipeline.records import AnnotationRecord
from pipeline.status import StatusCode

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog

Outcomes = list[AnnotationOutcome]  # named outside the class, whose `list` is a method
Rows = list[dict[str, Any]]
MAX_PAGE = 1000
_NOT_DELETED = literal_column("inputs.deleted_at").is_(None)


@dataclass(frozen=True)
class AnnotationPage:
    annotations: list[dict[str, Any]]
    next_cursor: str | None  # pass as `after` for the next page; None on the last


class AnnotationCatalog:
    """An app's annotations, by id or by input."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def add(
        self, user_id: str, app_id: str, prepared: Sequence[AnnotationRecord | AnnotationOutcome]
    ) -> list[AnnotationOutcome]:
        """Store each record (from `prepare_annotations`); failed ones pass through. The same
        content under an existing id is `unchanged`; other content under it is 40010."""
        out: list[AnnotationOutcome] = []
        for batch in in_batches(list(prepared)):
            with self.catalog.begin() as conn:
                out.extend(self._add_batch(conn, user_id, app_id, batch))
        return out

    def _add_batch(
        self,
        conn: Connection,
        user_id: str,
        app_id: str,
        batch: Sequence[AnnotationRecord | AnnotationOutcome],
    ) -> list[AnnotationOutcome]:
        records = [r for r in batch if isinstance(r, AnnotationRecord)]
        inputs = _input_status(conn, user_id, app_id, {r.input_id for r in records})
        stored = _rows(conn, user_id, app_id, [r.id for r in records], lock=True)
        new: list[AnnotationRecord] = []
        out: list[AnnotationOutcome] = []
        for item in batch:
            if isinstance(item, AnnotationOutcome):
                out.append(item)
                continue
            item.user_id, item.app_id = user_id, app_id
            out.append(_decide(item, inputs, stored))
            if out[-1].action is AnnotationAction.CREATED:
                new.append(item)
                stored[item.id] = {"id": item.id, **content(item)}
        self.catalog.upsert_annotations(conn, new, utc_now())
        return out

    def list(
        self,
        user_id: str,
        app_id: str,
        *,
        input_ids: Sequence[str] = (),
        annotation_user_id: str | None = None,
        status: str | None = None,
        task_id: str | None = None,
        limit: int = 100,
        after: str = "",
    ) -> AnnotationPage:
        """A page of annotations in id order, filtered; `next_cursor` continues it."""
        a = t.annotations.c
        limit = max(1, min(limit, MAX_PAGE))
        query = select(t.annotations).where(of_tenant(t.annotations, user_id, app_id), a.id > after)
        if input_ids:
            query = query.where(a.input_id.in_(list(input_ids)))
        if annotation_user_id is not None:
            query = query.where(a.annotation_user_id == annotation_user_id)
        if status is not None:
            query = query.where(a.status == status)
        if task_id is not None:
            query = query.where(a.task_id == task_id)
        with self.catalog.begin() as conn:
            rows = conn.execute(query.order_by(a.id).limit(limit + 1)).mappings().all()
        page = [as_platform(dict(r)) for r in rows[:limit]]
        return AnnotationPage(page, page[-1]["id"] if len(rows) > limit else None)

    def by_ids(self, user_id: str, app_id: str, ids: Sequence[str]) -> Rows:
        """The annotations with these ids (those that exist), in the platform's shape."""
        out: Rows = []
        for batch in in_batches(list(dict.fromkeys(ids))):
            with self.catalog.begin() as conn:
                rows = _rows(conn, user_id, app_id, batch, lock=False)
            out.extend(as_platform(rows[i]) for i in batch if i in rows)
        return out

    def patch(
        self,
        user_id: str,
        app_id: str,
        changes: Sequence[dict[str, Any]],
        action: PatchAction,
    ) -> Outcomes:
        """Apply each change (an annotation JSON naming its `id`) with `action`; one outcome
        per change, in order. A change that is not acceptable leaves its annotation as it was."""
        out: list[AnnotationOutcome] = []
        for batch in in_batches(list(changes)):
            with self.catalog.begin() as conn:
                ids = [str(c.get("id") or "") for c in batch]
                rows = _rows(conn, user_id, app_id, ids, lock=True)
                for ann_id, change in zip(ids, batch, strict=True):
                    row = rows.get(ann_id)
                    if row is None:
                        out.append(not_found(ann_id or "(no id)"))
                    elif is_input_level(row):
                        out.append(input_level_refused(row, "patch"))
                    else:
                        out.append(self._patch_one(conn, row, change, action))
        return out

    def _patch_one(
        self, conn: Connection, row: dict[str, Any], change: dict[str, Any], action: PatchAction
    ) -> AnnotationOutcome:
        try:
            record = patched_record(action, change, row)
        except InputError as exc:
            return failed(row["id"], row["input_id"], exc)
        a = t.annotations.c
        conn.execute(
            update(t.annotations)
            .where(of_tenant(t.annotations, row["user_id"], row["app_id"]), a.id == row["id"])
            .values(
                status=record.status,
                data=record.data,
                task_id=record.task_id,
                annotation_info=record.annotation_info,
                modified_at=utc_now(),
            )
        )
        row.update(content(record))  # a later change of the same id in this call sees this one
        return AnnotationOutcome(
            record.id,
            record.input_id,
            AnnotationAction.PATCHED,
            StatusCode.ANNOTATION_MODIFY_SUCCESS,
        )

    def delete(
        self, user_id: str, app_id: str, *, ids: Sequence[str] = (), input_ids: Sequence[str] = ()
    ) -> Outcomes:
        """Delete annotations by id, and every annotation of the given inputs (but the one
        holding an input's own concepts); one outcome per annotation, and per unknown input."""
        out: list[AnnotationOutcome] = []
        for batch in in_batches(list(dict.fromkeys(ids))):
            with self.catalog.begin() as conn:
                rows = _rows(conn, user_id, app_id, batch, lock=True)
                gone = [i for i in batch if i in rows and not is_input_level(rows[i])]
                _delete_ids(conn, user_id, app_id, gone)
                for ann_id in batch:
                    row = rows.get(ann_id)
                    if row is None:
                        out.append(not_found(ann_id))
                    elif is_input_level(row):
                        out.append(input_level_refused(row, "remove"))
                    else:
                        out.append(_deleted(row))
        for batch in in_batches(list(dict.fromkeys(input_ids))):
            with self.catalog.begin() as conn:
                known = _input_status(conn, user_id, app_id, set(batch))
                a = t.annotations.c
                query = select(t.annotations).where(
                    of_tenant(t.annotations, user_id, app_id), a.input_id.in_(list(batch))
                )
                rows_of = [dict(r) for r in conn.execute(query.order_by(a.id)).mappings()]
                mine = [r for r in rows_of if not is_input_level(r)]
                _delete_ids(conn, user_id, app_id, [r["id"] for r in mine])
                out.extend(_deleted(r) for r in mine)
                out.extend(_no_input(i) for i in batch if i not in known)
        return out


def _decide(
    record: AnnotationRecord,
    inputs: dict[str, int],
    stored: dict[str, dict[str, Any]],
) -> AnnotationOutcome:
    code = inputs.get(record.input_id)
    if code is None:
        return _no_input(record.input_id, record.id)
    if code not in _ANNOTATABLE:
        return AnnotationOutcome(
            record.id,
            record.input_id,
            AnnotationAction.FAILED,
            StatusCode.ANNOTATION_INVALID_ARGUMENT,
            f"input {record.input_id!r} failed ({StatusCode(code).name}); annotate it once "
            "it is stored (`ingestd inputs list --failed` says why it failed)",
        )
    prior = stored.get(record.id)
    if prior is None:
        return AnnotationOutcome(
            record.id, record.input_id, AnnotationAction.CREATED, StatusCode.ANNOTATION_SUCCESS
        )
    if content(prior) == content(record):
        return AnnotationOutcome(
            record.id,
            record.input_id,
            AnnotationAction.UNCHANGED,
            StatusCode.ANNOTATION_SUCCESS,
            "already stored with this content; nothing written",
        )
    return AnnotationOutcome(
        record.id,
        record.input_id,
        AnnotationAction.FAILED,
        StatusCode.DATABASE_DUPLICATE_KEY,
        f"annotation {record.id!r} exists with other content; change it with "
        "`ingestd annotations patch`, or give this one another id",
    )


_ANNOTATABLE = {
    int(StatusCode.INPUT_SUCCESS),
    int(StatusCode.INPUT_PENDING),
    int(StatusCode.INPUT_IN_PROGRESS),
}


def _no_input(input_id: str, annotation_id: str = "") -> AnnotationOutcome:
    return AnnotationOutcome(
        annotation_id,
        input_id,
        AnnotationAction.FAILED,
        StatusCode.INPUT_DOES_NOT_EXIST,
        f"no input {input_id!r} in this app (`ingestd inputs list` shows its inputs)",
    )


def _deleted(row: dict[str, Any]) -> AnnotationOutcome:
    return AnnotationOutcome(
        row["id"], row["input_id"], AnnotationAction.DELETED, StatusCode.SUCCESS
    )


def _input_status(conn: Connection, user_id: str, app_id: str, ids: set[str]) -> dict[str, int]:
    c = t.inputs.c
    query = select(c.id, c.status_code).where(
        of_tenant(t.inputs, user_id, app_id), c.id.in_(sorted(ids)), _NOT_DELETED
    )
    return {r.id: r.status_code for r in conn.execute(query)} if ids else {}


def _rows(
    conn: Connection, user_id: str, app_id: str, ids: Sequence[str], *, lock: bool
) -> dict[str, dict[str, Any]]:
    a = t.annotations.c
    query = select(t.annotations).where(
        of_tenant(t.annotations, user_id, app_id), a.id.in_(sorted(set(ids)))
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {r["id"]: dict(r) for r in conn.execute(query).mappings()}


def _delete_ids(conn: Connection, user_id: str, app_id: str, ids: Sequence[str]) -> None:
    if ids:
        conn.execute(
            delete(t.annotations).where(
                of_tenant(t.annotations, user_id, app_id), t.annotations.c.id.in_(list(ids))
            )
        )
