"""An `InputQuery` (pipeline/search.py) as SQL, the same answers on SQLite and PostgreSQL.

Metadata containment is JSONB `@>` on PostgreSQL (the GIN index of migration 0012); on
SQLite it is spelled out key by key (a bound JSON path for plain keys, `json_each` for the
rest; keys and values are bound as parameters, never pasted into SQL), with PostgreSQL's
rules: nested objects contain what is given, an array contains every element given, types
must match (true is not 1).
Concepts are the input's own (`inputs.concepts`): positive means a value above 0, negative
exactly 0; on PostgreSQL a containment test on the GIN index narrows the rows first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Float,
    and_,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, Select

from connectors.catalog import schema as t
from connectors.catalog.rows import NOT_DELETED, of_tenant
from pipeline.search import InputQuery, SearchOrder, decode_cursor, encode_cursor

_SUCCESS = 30000


@dataclass(frozen=True)
class SearchPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def conditions(q: InputQuery, user_id: str, app_id: str, dialect: str) -> list[ColumnElement[bool]]:
    """The WHERE clauses of the query's filters (paging aside)."""
    c = t.inputs.c
    where: list[ColumnElement[bool]] = [of_tenant(t.inputs, user_id, app_id), NOT_DELETED]
    if q.status:
        where.append(c.status_code.in_(q.status))
    if q.failed:
        where.append(c.status_code != _SUCCESS)
    if q.media_type:
        where.append(c.media_type.in_([m.value for m in q.media_type]))
    where += [_concept(dialect, cid, positive=True) for cid in q.concepts]
    where += [_concept(dialect, cid, positive=False) for cid in q.not_concepts]
    if q.metadata is not None:
        if dialect == "postgresql":
            where.append(c.metadata.op("@>")(_jsonb(q.metadata)))
        else:
            where.append(_sqlite_contains(c.metadata, q.metadata))
    if q.dataset_id is not None:
        m = t.dataset_inputs.c
        where.append(
            exists(
                select(literal(1)).where(
                    m.user_id == c.user_id,
                    m.app_id == c.app_id,
                    m.input_id == c.id,
                    m.dataset_id == q.dataset_id,
                )
            )
        )
    for column, value in (
        (c.source, q.source),
        (c.run_id, q.run_id),
        (c.job_id, q.job_id),
        (c.collector_id, q.collector_id),
    ):
        if value is not None:
            where.append(column == value)
    if q.created_after is not None:
        where.append(c.created_at >= q.created_after)
    if q.created_before is not None:
        where.append(c.created_at < q.created_before)
    if q.id_prefix is not None:
        # substr, not LIKE: LIKE is case-insensitive on SQLite and treats % and _ specially.
        where.append(func.substr(c.id, 1, len(q.id_prefix)) == q.id_prefix)
    return where


def search_page(conn: Connection, q: InputQuery, user_id: str, app_id: str) -> SearchPage:
    """One page of matching inputs in the query's order and the cursor of the next."""
    query = _paged(q, user_id, app_id, conn.dialect.name, select(t.inputs))
    rows = [dict(r) for r in conn.execute(query.limit(q.limit + 1)).mappings()]
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    return SearchPage(rows, encode_cursor(q, rows[-1]) if more else None)


def count_matching(conn: Connection, q: InputQuery, user_id: str, app_id: str) -> int:
    where = conditions(q, user_id, app_id, conn.dialect.name)
    return int(conn.execute(select(func.count()).select_from(t.inputs).where(*where)).scalar_one())


def matching_id_pages(
    begin: Any, q: InputQuery, user_id: str, app_id: str, page: int = 1000
) -> Iterator[list[str]]:
    """Every matching id in id order, a page (one short transaction) at a time."""
    q = q.model_copy(update={"cursor": None, "order": SearchOrder.ID, "limit": page})
    after: str | None = None
    while True:
        q = q.model_copy(update={"after_id": after})
        with begin() as conn:
            base = select(t.inputs.c.id)
            query = _paged(q, user_id, app_id, conn.dialect.name, base).limit(page)
            ids = list(conn.execute(query).scalars())
        if ids:
            yield ids
        if len(ids) < page:
            return
        after = ids[-1]


def _paged(
    q: InputQuery, user_id: str, app_id: str, dialect: str, base: Select[Any]
) -> Select[Any]:
    c = t.inputs.c
    where = conditions(q, user_id, app_id, dialect)
    start = decode_cursor(q)
    desc = q.order.descending
    if q.after_id is not None:
        where.append(c.id > q.after_id)
    if start is not None:
        when, last_id = start
        after_id = c.id < last_id if desc else c.id > last_id
        if when is None:
            where.append(after_id)
        else:
            later = c.created_at < when if desc else c.created_at > when
            where.append(or_(later, and_(c.created_at == when, after_id)))
    keys = [c.created_at, c.id] if q.order.by_time else [c.id]
    return base.where(*where).order_by(*(k.desc() if desc else k.asc() for k in keys))


def _jsonb(value: Any) -> ColumnElement[Any]:
    return cast(literal(json.dumps(value)), JSONB)


def _concept(dialect: str, concept_id: str, *, positive: bool) -> ColumnElement[bool]:
    c = t.inputs.c
    cid: ColumnElement[Any]
    raw: ColumnElement[Any]
    if dialect == "postgresql":
        e = func.jsonb_array_elements(c.concepts).table_valued("value").alias()
        cid = e.c.value.op("->>")(literal("id"))
        raw = e.c.value.op("->>")(literal("value"))
    else:
        e = func.json_each(c.concepts).table_valued("value").alias()
        cid = func.json_extract(e.c.value, "$.id")
        raw = func.json_extract(e.c.value, "$.value")
    value = cast(func.coalesce(raw, "1"), Float)  # a concept given without value is present
    held = exists(
        select(literal(1))
        .select_from(e)
        .where(cid == concept_id, value > 0 if positive else value == 0)
    )
    if dialect == "postgresql":
        # The GIN index answers this part; the EXISTS above checks the value on what is left.
        return and_(c.concepts.op("@>")(_jsonb([{"id": concept_id}])), held)
    return held


# Keys that can be a quoted label of a JSON path as they are stored: SQLite matches a label
# against the key's raw text, and non-ASCII keys are stored \u-escaped, a quote cannot be in a
# label at all. Other keys are looked up member by member with json_each (slower, as exact).
_PATH_KEY = re.compile(r"[A-Za-z0-9_ .:/-]+")


def _sqlite_contains(
    doc: ColumnElement[Any], want: dict[str, Any], path: str = "$"
) -> ColumnElement[bool]:
    """Whether the JSON object at `path` of the JSON text `doc` contains the object `want`
    (PostgreSQL's `@>`)."""
    parts: list[ColumnElement[bool]] = [func.json_type(doc, path) == "object"]
    for key, value in want.items():
        if _PATH_KEY.fullmatch(key):
            # One path lookup per row instead of a json_each scan of its members: the search
            # by a metadata key ran 3x slower than the same question asked by path.
            parts.append(_at(doc, f'{path}."{key}"', value))
            continue
        e = func.json_each(doc, path).table_valued("key", "value", "type", "atom").alias()
        parts.append(
            exists(select(literal(1)).select_from(e).where(e.c.key == key, _holds(e, value)))
        )
    return and_(*parts)


def _at(doc: ColumnElement[Any], path: str, want: Any) -> ColumnElement[bool]:
    """Whether the value at `path` of `doc` contains `want` (the path is bound, not pasted)."""
    if isinstance(want, dict):
        return _sqlite_contains(doc, want, path)
    kind = func.json_type(doc, path)
    if isinstance(want, list):
        parts: list[ColumnElement[bool]] = [kind == "array"]
        for item in want:
            inner = func.json_each(doc, path).table_valued("key", "value", "type", "atom").alias()
            parts.append(exists(select(literal(1)).select_from(inner).where(_holds(inner, item))))
        return and_(*parts)
    return _scalar(kind, func.json_extract(doc, path), want)


def _holds(e: Any, want: Any) -> ColumnElement[bool]:
    """Whether the json_each row `e` (one member or element) contains `want`."""
    if isinstance(want, dict):
        return and_(e.c.type == "object", _sqlite_contains(e.c.value, want))
    if isinstance(want, list):
        parts: list[ColumnElement[bool]] = [e.c.type == "array"]
        for item in want:
            inner = func.json_each(e.c.value).table_valued("key", "value", "type", "atom").alias()
            parts.append(exists(select(literal(1)).select_from(inner).where(_holds(inner, item))))
        return and_(*parts)
    return _scalar(e.c.type, e.c.atom, want)


def _scalar(kind: ColumnElement[Any], value: ColumnElement[Any], want: Any) -> ColumnElement[bool]:
    """Whether a JSON value of type `kind` and SQL value `value` equals the scalar `want`."""
    if isinstance(want, bool):  # before int: True is an int in Python, not in JSON
        return kind == ("true" if want else "false")
    if want is None:
        return kind == "null"
    if isinstance(want, int | float):
        return and_(kind.in_(("integer", "real")), value == want)
    return and_(kind == "text", value == str(want))


def create_search_indexes(conn: Connection) -> None:
    """Migration 0012: what searches filter and sort by. GIN indexes (jsonb_path_ops, the
    operator class of `@>`) on metadata and concepts exist on PostgreSQL only: SQLite has no
    index over JSON members."""
    statements = [
        "CREATE INDEX IF NOT EXISTS ix_inputs_created ON inputs (user_id, app_id, created_at, id)",
        "CREATE INDEX IF NOT EXISTS ix_inputs_collector ON inputs (user_id, app_id, collector_id)",
    ]
    if conn.dialect.name == "postgresql":
        statements += [
            "CREATE INDEX IF NOT EXISTS ix_inputs_metadata_gin "
            "ON inputs USING gin (metadata jsonb_path_ops)",
            "CREATE INDEX IF NOT EXISTS ix_inputs_concepts_gin "
            "ON inputs USING gin (concepts jsonb_path_ops)",
        ]
    for statement in statements:
        conn.execute(text(statement))
