"""Reading one dataset for a snapshot: its successful inputs and their annotations.

Pages of inputs by keyset on the input id (byte-wise order on every database), then the
annotations of the page's ids, all inside the caller's consistent transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import String, Text, any_, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from connectors.catalog import schema as t
from connectors.catalog.rows import NOT_DELETED
from pipeline.snapshot.manifest import SnapshotMember
from pipeline.status import StatusCode

_OK = int(StatusCode.INPUT_SUCCESS)
_INPUT_KEYS = (
    "id",
    "media_type",
    "blob_key",
    "sha256",
    "format",
    "size",
    "width",
    "height",
    "source_url",
    "metadata",
    "geo",
)


class DatasetReader:
    """One dataset's successful inputs and their annotations, in byte-wise input id order."""

    def __init__(self, conn: Connection, user_id: str, app_id: str, dataset_id: str) -> None:
        self.conn = conn
        self.user_id, self.app_id, self.dataset_id = user_id, app_id, dataset_id
        m = t.dataset_inputs.c
        self.postgres = conn.dialect.name == "postgresql"
        # PostgreSQL sorts by the database's collation unless told otherwise.
        self.member_id = m.input_id.collate("C") if self.postgres else m.input_id
        self.members_of = (m.user_id == user_id, m.app_id == app_id, m.dataset_id == dataset_id)

    def members_count(self) -> int:
        i, m = t.inputs.c, t.dataset_inputs.c
        query = (
            select(func.count())
            .select_from(t.dataset_inputs.join(t.inputs, _same_input(i, m)))
            .where(*self.members_of, i.status_code == _OK, NOT_DELETED)
        )
        return int(self.conn.execute(query).scalar_one())

    def members(self, page_size: int) -> Iterator[SnapshotMember]:
        after = ""
        while True:
            page = self._inputs_page(after, page_size)
            if not page:
                return
            annotations = self._annotations([row["id"] for row in page])
            for row in page:
                yield SnapshotMember(row, annotations.get(row["id"], []))
            if len(page) < page_size:
                return
            after = page[-1]["id"]

    def _inputs_page(self, after: str, limit: int) -> list[dict[str, Any]]:
        i, m = t.inputs.c, t.dataset_inputs.c
        query = (
            select(
                i.id,
                i.media_type,
                i.blob_key,
                i.sha256,
                i.format,
                i.size,
                i.width,
                i.height,
                i.source_url,
                cast(i.metadata, Text),
                cast(i.geo, Text),
            )
            .select_from(t.dataset_inputs.join(t.inputs, _same_input(i, m)))
            .where(*self.members_of, self.member_id > after, i.status_code == _OK, NOT_DELETED)
            .order_by(self.member_id)
            .limit(limit)
        )
        out = []
        for r in self.conn.execute(query):
            row = dict(zip(_INPUT_KEYS, r, strict=True))
            row["metadata"] = orjson.loads(row["metadata"])
            row["geo"] = orjson.loads(row["geo"]) if row["geo"] is not None else None
            out.append(row)
        return out

    def _annotations(self, input_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        # By id list, not id range: equality lookups use the annotations index under any
        # collation (a range join made PostgreSQL scan the whole table once per page).
        a = t.annotations.c
        query = select(
            a.input_id,
            a.id,
            a.annotation_user_id,
            a.status,
            a.model_version_id,
            a.task_id,
            cast(a.data, Text),
            cast(a.annotation_info, Text),
        ).where(
            a.user_id == self.user_id,
            a.app_id == self.app_id,
            _among(a.input_id, input_ids, self.postgres),
        )
        out: dict[str, list[dict[str, Any]]] = {}
        for input_id, ann_id, user, status, model, task, data, info in self.conn.execute(query):
            out.setdefault(input_id, []).append(
                {
                    "id": ann_id,
                    "user_id": user,
                    "status": status,
                    "model_version_id": model,
                    "task_id": task,
                    "data": orjson.loads(data),
                    "annotation_info": orjson.loads(info) if info else {},
                }
            )
        return out


def _among(column: Any, ids: list[str], postgres: bool) -> Any:
    if postgres:  # one array parameter: psycopg need not parse thousands of placeholders
        return column == any_(bindparam("ids", ids, type_=ARRAY(String)))
    return column.in_(ids)


def _same_input(i: Any, m: Any) -> Any:
    return (i.user_id == m.user_id) & (i.app_id == m.app_id) & (i.id == m.input_id)
