"""Rows shared by the catalog's facets: tenant scoping, rows to records and back, the clock."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import ColumnElement, Select, TableClause, and_, literal_column, select
from sqlalchemy.engine import Connection, RowMapping

from connectors.catalog.batching import in_batches
from pipeline.records import InputRecord

R = TypeVar("R")


def of_tenant(table: TableClause, user_id: str, app_id: str) -> ColumnElement[bool]:
    """The rows of one app: every tenant table is keyed by user_id and app_id."""
    return and_(table.c.user_id == user_id, table.c.app_id == app_id)


def by_id(table: TableClause, user_id: str, app_id: str, row_id: str) -> ColumnElement[bool]:
    """One row of one app by its id."""
    return and_(of_tenant(table, user_id, app_id), table.c.id == row_id)


def page_query(
    table: TableClause, user_id: str, app_id: str, after_id: str, limit: int
) -> Select[Any]:
    """The app's rows in id order after `after_id` (keyset pagination)."""
    c = table.c
    return (
        select(table)
        .where(of_tenant(table, user_id, app_id), c.id > after_id)
        .order_by(c.id)
        .limit(limit)
    )


def rows_among(
    conn: Connection, query: Select[Any], key: ColumnElement[Any], values: Collection[Any]
) -> Iterator[RowMapping]:
    """The query's rows whose `key` is among `values`, asked an IN-batch at a time."""
    for batch in in_batches(list(values)):
        yield from conn.execute(query.where(key.in_(batch))).mappings()


def first_row(conn: Connection, query: Select[Any]) -> dict[str, Any] | None:
    """The query's first row as a dict, or None."""
    row = conn.execute(query).mappings().first()
    return None if row is None else dict(row)


def from_row(cls: type[R], row: Mapping[str, Any], **overrides: Any) -> R:
    """A dataclass or pydantic record of the row's columns of the same names (overrides win)."""
    fields = getattr(cls, "model_fields", None)
    names = list(fields) if fields is not None else [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{n: row[n] for n in names if n not in overrides}, **overrides)


# An input whose drop-zone object was deleted at its source (`deleted_at`, a column of the
# extraction tables) is kept for the record but is no longer part of anything: listings,
# searches, dataset counts and new versions all leave it out.
NOT_DELETED = literal_column("inputs.deleted_at").is_(None)


def utc_now() -> datetime:
    """The catalog's timestamps: aware UTC."""
    return datetime.now(UTC)


def input_row(r: InputRecord, now: datetime) -> dict[str, Any]:
    """The `inputs` table row of a record (ingest and media stages write the same shape)."""
    return {
        "user_id": r.user_id,
        "app_id": r.app_id,
        "id": r.id,
        "media_type": r.media_type,
        "format": r.format,
        "status_code": int(r.status_code),
        "status_message": r.status_message,
        "blob_key": r.blob_key,
        "sha256": r.sha256,
        "size": r.size,
        "width": r.width,
        "height": r.height,
        "source_url": r.source_url,
        "concepts": r.concepts,
        "metadata": r.metadata,
        "geo": r.geo,
        "fingerprint": r.fingerprint,
        "request_id": r.request_id,
        "job_id": r.job_id,
        "source": r.source,
        "run_id": r.run_id,
        "source_uri": r.source_uri,
        "source_etag": r.source_etag,
        "collector_id": r.collector_id,
        "event_id": r.event_id,
        "created_at": now,
        "modified_at": now,
    }


_ORJSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_ORJSON |= orjson.OPT_PASSTHROUGH_SUBCLASS


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def json_text(value: Any) -> str:
    """The text of a JSON column (the engine's serializer): orjson, as annotation rows are
    written by the ten thousand and json.dumps took a third of their insert. The text differs
    (compact, UTF-8), the JSON does not: what orjson refuses or would change (integers past
    64 bits, non-string keys, NaN, which it writes as null, and datetimes, dataclasses and str
    subclasses, which json.dumps refuses or writes its own way) goes through json.dumps."""
    try:
        text = orjson.dumps(value, default=_refuse, option=_ORJSON)
    except TypeError:
        return json.dumps(value)
    if b"null" in text:  # None, or a NaN/Infinity orjson turned into null
        return json.dumps(value)
    return text.decode()
