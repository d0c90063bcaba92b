"""What in the catalog references blobs: the questions `ingestd gc` asks before removing one.

Media are referenced by input rows (every app's, soft-deleted ones included), by the
manifests of ready dataset versions (read from the blob store by the caller) and by dead
letters that may still be replayed (claim-checked media travel as a key in the event).
A version's own blobs live under its prefix for as long as its row exists.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Index, select
from sqlalchemy.engine import Connection

from connectors.catalog import schema as t
from connectors.catalog.rows import rows_among
from connectors.catalog.versions_tables import dataset_versions as v
from pipeline.snapshot.manifest import version_prefix
from pipeline.status import StatusCode

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog

_READY = int(StatusCode.DATASET_VERSION_READY)
_RUNNING = (int(StatusCode.DATASET_VERSION_PENDING), int(StatusCode.DATASET_VERSION_IN_PROGRESS))


# gc asks "does any input reference these keys?" a page at a time: without this index each
# page is a scan of `inputs` (about 1.4 ms per blob at a million inputs, bench/manage_bench.py).
ix_inputs_blob = Index("ix_inputs_blob", t.inputs.c.blob_key)


def create_index(conn: Connection) -> None:
    """Migration 0015 (a new catalog has the index with its table)."""
    ix_inputs_blob.create(conn, checkfirst=True)


class BlobRefCatalog:
    """Read-only: which blob keys the catalog still references."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def referenced_by_inputs(self, keys: Collection[str]) -> set[str]:
        """The keys among `keys` some input row (of any app) has as its blob."""
        c = t.inputs.c
        with self.catalog.begin() as conn:
            return {r["blob_key"] for r in rows_among(conn, select(c.blob_key), c.blob_key, keys)}

    def ready_manifests(self) -> dict[str, str]:
        """Every ready version's manifest key, by the version's blob prefix."""
        with self.catalog.begin() as conn:
            rows = conn.execute(
                select(v.c.user_id, v.c.app_id, v.c.dataset_id, v.c.id, v.c.manifest_key).where(
                    v.c.status_code == _READY, v.c.manifest_key.is_not(None)
                )
            ).all()
        return {version_prefix(r[0], r[1], r[2], r[3]): r[4] for r in rows}

    def version_prefixes(self) -> set[str]:
        """The blob prefix of every version that has a row, whatever its state."""
        with self.catalog.begin() as conn:
            rows = conn.execute(select(v.c.user_id, v.c.app_id, v.c.dataset_id, v.c.id)).all()
        return {version_prefix(*r) for r in rows}

    def snapshots_running_since(self, since: datetime) -> int:
        """Versions being built that moved after `since`: their manifests are not known yet."""
        with self.catalog.begin() as conn:
            rows = conn.execute(
                select(v.c.id).where(v.c.status_code.in_(_RUNNING), v.c.modified_at >= since)
            ).all()
        return len(rows)

    def dead_letter_keys(self) -> set[str]:
        """Blob keys named anywhere in a dead-lettered event that may still be replayed."""
        d = t.dead_letters.c
        with self.catalog.begin() as conn:
            events = conn.execute(select(d.event).where(d.replayed_at.is_(None))).scalars()
            return {key for event in events for key in _blob_keys(event)}


def _blob_keys(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:  # iterative: an event may nest deeply
        item = stack.pop()
        if isinstance(item, dict):
            for k, x in item.items():
                if k == "blob_key" and isinstance(x, str):
                    yield x
                else:
                    stack.append(x)
        elif isinstance(item, list):
            stack.extend(item)
