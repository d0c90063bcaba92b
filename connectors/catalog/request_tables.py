"""What became of each request: processed events scoped by tenant, and refused inputs.

Migration `0008_tenant_processed_events` rebuilds `processed_events` with user and app in
its key (SQLite cannot change a primary key in place); `0009_refused_inputs` adds the
table of inputs refused for an id the catalog cannot hold.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table, Text, inspect, text
from sqlalchemy.engine import Connection

from connectors.catalog import schema

_OLD = "processed_events_pre_0008"

# An input whose id was refused (path separators, control characters, too long) never
# becomes a row of `inputs`; it is listed from here. `id` is the requested id escaped and
# cut to 400 characters: never a valid id, so never equal to a stored input's id.
refused_inputs = Table(
    "refused_inputs",
    schema.metadata,
    Column("user_id", String(128), primary_key=True),
    Column("app_id", String(128), primary_key=True),
    Column("id", String(400), primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("status_message", Text, nullable=False),
    Column("refused_at", DateTime(timezone=True), nullable=False),
)


def shown_id(requested_id: str) -> str:
    """A refused id as it can be stored and printed (escaped, bounded)."""
    return requested_id.encode("unicode_escape").decode("ascii")[:400]


def scope_processed_events(conn: Connection) -> None:
    """Copy processed events into the tenant-keyed table; a new catalog has it already."""
    found = inspect(conn)
    if not found.has_table("processed_events"):
        schema.metadata.create_all(conn, tables=[schema.processed_events])
        return
    if "user_id" in {c["name"] for c in found.get_columns("processed_events")}:
        return
    conn.execute(text(f"ALTER TABLE processed_events RENAME TO {_OLD}"))
    schema.metadata.create_all(conn, tables=[schema.processed_events])
    # The tenant of an old ingest event is that of the inputs it wrote; an event that wrote
    # none (or a media task) keeps an empty tenant: it is kept for the record, and a replay
    # of it is processed again, which derived ids make harmless.
    conn.execute(
        text(
            "INSERT INTO processed_events "
            "(user_id, app_id, event_id, stage, outcomes, processed_at) "
            "SELECT COALESCE(i.user_id, ''), COALESCE(i.app_id, ''), o.event_id, o.stage, "
            "o.outcomes, o.processed_at FROM processed_events_pre_0008 o LEFT JOIN "
            "(SELECT DISTINCT user_id, app_id, request_id FROM inputs) i "
            "ON i.request_id = o.event_id"
        )
    )
    conn.execute(text(f"DROP TABLE {_OLD}"))


def create_refused(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=[refused_inputs])


def add_lineage(conn: Connection) -> None:
    """Migration 0010: the lineage columns of `inputs` (a new catalog has them already)."""
    have = {c["name"] for c in inspect(conn).get_columns("inputs")}
    for column in schema.LINEAGE_COLUMNS():
        if column.name not in have:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE inputs ADD COLUMN {column.name} {kind}"))
    if "ix_inputs_run" not in {i["name"] for i in inspect(conn).get_indexes("inputs")}:
        conn.execute(text("CREATE INDEX ix_inputs_run ON inputs (user_id, app_id, run_id)"))
