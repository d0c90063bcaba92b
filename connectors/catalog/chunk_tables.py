"""Chunk columns of `inputs`: a chunk's parent, its place among the parent's chunks, its span.

Added to the core table by the named migration `0002_media_chunks` (ALTER TABLE on an
existing catalog; a new catalog gets them with the table).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, inspect, text
from sqlalchemy.engine import Connection

from connectors.catalog import schema

CHUNK_COLUMNS = (
    Column("parent_input_id", String(160)),
    Column("chunk_index", Integer),
    Column("chunk_count", Integer),  # on a chunk: its siblings; on a parent: its chunks
    Column("start_ms", BigInteger),
    Column("end_ms", BigInteger),
    Column("start_offset", BigInteger),  # characters (text) or sample frames (audio)
    Column("end_offset", BigInteger),
)

for _column in CHUNK_COLUMNS:
    schema.inputs.append_column(_column)

ix_inputs_parent = Index(
    "ix_inputs_parent",
    schema.inputs.c.user_id,
    schema.inputs.c.app_id,
    schema.inputs.c.parent_input_id,
    schema.inputs.c.chunk_index,
)


def create(conn: Connection) -> None:
    """Add whichever chunk columns and index the `inputs` table lacks."""
    present = {c["name"] for c in inspect(conn).get_columns("inputs")}
    for column in CHUNK_COLUMNS:
        if column.name not in present:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE inputs ADD COLUMN {column.name} {kind}"))
    ix_inputs_parent.create(conn, checkfirst=True)
