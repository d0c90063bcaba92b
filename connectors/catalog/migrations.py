"""Named, ordered schema migrations of the catalog, each applied once.

A migration is recorded by name in `schema_migrations`, so features added later append a
step here (never edit an applied one) and an existing catalog is upgraded in place on the
next start. Steps must be idempotent enough to survive two workers starting at once.
"""

from collections.abc import Callable

from sqlalchemy import Column, DateTime, String, Table, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from connectors.catalog import (
    add_jobs,
    blob_refs,
    chunk_tables,
    collectors_tables,
    request_tables,
    schema,
    versions_tables,
)
from connectors.catalog.extraction_tables import create_extraction_tables
from connectors.catalog.rows import utc_now
from connectors.catalog.search import create_search_indexes

schema_migrations = Table(
    "schema_migrations",
    schema.metadata,
    Column("name", String(128), primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = [
    ("0001_core", schema.create_core_tables),
    ("0003_collectors", collectors_tables.create),
    ("0007_dataset_versions", versions_tables.create),
    ("0006_extraction_jobs", create_extraction_tables),
    ("0002_media_chunks", chunk_tables.create),
    ("0008_tenant_processed_events", request_tables.scope_processed_events),
    ("0009_refused_inputs", request_tables.create_refused),
    ("0010_input_lineage", request_tables.add_lineage),
    ("0012_search_indexes", create_search_indexes),
    ("0014_api_add_jobs", add_jobs.create),
    ("0015_blob_key_index", blob_refs.create_index),
    ("0016_add_job_counts", add_jobs.create_counts),
]

def migrate(engine: Engine) -> list[str]:
    """Apply every step not yet recorded; returns the names applied now."""
    applied_now: list[str] = []
    with engine.begin() as conn:
        _lock(conn)
        schema.metadata.create_all(conn, tables=[schema_migrations])
    for name, step in MIGRATIONS:
        with engine.begin() as conn:
            _lock(conn)
            done = conn.execute(
                select(schema_migrations.c.name).where(schema_migrations.c.name == name)
            ).first()
            if done:
                continue
            step(conn)
            try:
                conn.execute(schema_migrations.insert().values(name=name, applied_at=utc_now()))
            except IntegrityError:  # another process applied it meanwhile
                continue
        applied_now.append(name)
    return applied_now

def _lock(conn: Connection) -> None:
    """On PostgreSQL, workers starting together take turns (SQLite locks the file anyway)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7243110001)"))
