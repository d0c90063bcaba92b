"""The catalog's core tables (SQLAlchemy Core): inputs, annotations, datasets, events.

Feature modules define their tables on the same `metadata`; `migrations.py` lists the
steps that create or change them.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.schema import SchemaItem

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")


def timestamp_columns() -> list[Column]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("modified_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def tenant_columns(*, key: bool = True) -> list[Column]:
    """The user and app a row belongs to: the first part of its key, or (key=False) plain
    columns of a table keyed otherwise."""
    if key:
        return [
            Column("user_id", String(128), primary_key=True),
            Column("app_id", String(128), primary_key=True),
        ]
    return [
        Column("user_id", String(128), nullable=False),
        Column("app_id", String(128), nullable=False),
    ]


def tenant_table(name: str, *items: SchemaItem) -> Table:
    """A table of one app's records: keyed by user and app first, its timestamps after the
    given columns, then the indexes (which may name the timestamps)."""
    columns = [i for i in items if isinstance(i, Column)]
    rest = [i for i in items if not isinstance(i, Column)]
    return Table(name, metadata, *tenant_columns(), *columns, *timestamp_columns(), *rest)


def LINEAGE_COLUMNS() -> list[Column]:  # noqa: N802 - a table fragment, named as one
    """The lineage of an input: the import run, the source location (path, URL or S3 URI
    without credentials) and its ETag, the collector and prediction event of a capture.
    A chunk's parent is `parent_input_id` (chunk_tables.py). All nullable: older rows and
    API inputs lack them."""
    return [
        Column("run_id", String(64)),
        Column("source_uri", Text),
        Column("source_etag", String(128)),
        Column("collector_id", String(160)),
        Column("event_id", String(64)),
    ]


inputs = tenant_table(
    "inputs",
    Column("id", String(160), primary_key=True),
    Column("media_type", String(16)),
    Column("format", String(16)),
    Column("status_code", Integer, nullable=False),
    Column("status_message", Text, nullable=False, default=""),
    Column("blob_key", String(400)),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("width", Integer),
    Column("height", Integer),
    Column("source_url", Text),
    Column("concepts", Json, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("geo", Json),
    Column("fingerprint", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("job_id", String(64)),
    Column("source", String(32), nullable=False),
    # Lineage (migration 0010): where an input came from. `source` above is its kind.
    *LINEAGE_COLUMNS(),
    Index("ix_inputs_status", "user_id", "app_id", "status_code"),
    Index("ix_inputs_job", "job_id"),
    Index("ix_inputs_run", "user_id", "app_id", "run_id"),
)

annotations = tenant_table(
    "annotations",
    Column("id", String(160), primary_key=True),
    Column("input_id", String(160), nullable=False),
    Column("annotation_user_id", String(128), nullable=False),
    Column("status", String(48), nullable=False),
    Column("data", Json, nullable=False),
    Column("task_id", String(128)),
    Column("model_version_id", String(128)),
    Column("annotation_info", Json, nullable=False),
    Index("ix_annotations_input", "user_id", "app_id", "input_id"),
)

datasets = tenant_table(
    "datasets",
    Column("id", String(160), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("metadata", Json, nullable=False),
    Column("default_filter", Json),
)

dataset_inputs = Table(
    "dataset_inputs",
    metadata,
    *tenant_columns(),
    Column("dataset_id", String(160), primary_key=True),
    Column("input_id", String(160), primary_key=True),
    Column("added_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Keyed by tenant too: two apps may both send request "req-1" (migration 0008).
processed_events = Table(
    "processed_events",
    metadata,
    *tenant_columns(key=False),
    Column("event_id", String(64), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("outcomes", Json, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Named: the pre-0008 table's default-named key may still exist while it is copied.
    PrimaryKeyConstraint("user_id", "app_id", "event_id", name="pk_processed_events_tenant"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("event_id", String(64), index=True),
    Column("stage", String(32), nullable=False),
    Column("code", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("origin_topic", String(128), nullable=False),
    Column("origin_partition", Integer),
    Column("origin_offset", BigInteger),
    Column("origin_key", String(256)),
    Column("event", Json, nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Column("replayed_at", DateTime(timezone=True)),
)


def create_core_tables(conn: Connection) -> None:
    metadata.create_all(
        conn,
        tables=[inputs, annotations, datasets, dataset_inputs, processed_events, dead_letters],
    )
