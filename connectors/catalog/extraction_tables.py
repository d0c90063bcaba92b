"""Tables of cloud-storage extraction jobs: the jobs with their progress, and the object ledger.

The ledger remembers, per source object (and archive member), the ETag and input it last
produced, so re-running a job reads nothing unchanged and a changed object updates its
input. No credentials are ever stored here.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    inspect,
    text,
)
from sqlalchemy.engine import Connection

from connectors.catalog.schema import Json, metadata, tenant_columns

COUNTERS = (
    "image_inputs_count",
    "video_inputs_count",
    "audio_inputs_count",
    "text_inputs_count",
    "pending_archives_count",
    "in_progress_archives_count",
    "completed_archives_count",
    "failed_archives_count",
    # ours, beyond the reference's progress fields
    "listed_objects_count",
    "unchanged_objects_count",
    "failed_inputs_count",
    "deleted_objects_count",
)

extraction_jobs = Table(
    "extraction_jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    *tenant_columns(key=False),
    Column("url", Text, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("status_message", Text, nullable=False, default=""),
    Column("input_id_conflict_resolution", String(16), nullable=False),
    Column("input_template", Json, nullable=False),
    Column("watch", Boolean, nullable=False, default=False),
    Column("credentials", String(32), nullable=False),  # where they came from, never values
    Column("last_key", Text),  # watch: highest key seen, the next incremental StartAfter
    *(Column(name, BigInteger, nullable=False, default=0) for name in COUNTERS),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    Index("ix_extraction_jobs_tenant", "user_id", "app_id", "created_at"),
)

extraction_objects = Table(
    "extraction_objects",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("app_id", String(128), primary_key=True),
    Column("origin_id", String(64), primary_key=True),  # sha256 of the origin (keys are long)
    Column("origin", Text, nullable=False),  # s3://bucket/key or s3://bucket/key#member
    Column("bucket", String(64), nullable=False),
    Column("key", Text, nullable=False),
    Column("parent_id", String(64)),  # the archive's origin_id, for members
    Column("kind", String(8), nullable=False),  # object, archive, member
    Column("etag", String(128), nullable=False),
    Column("template_fp", String(64), nullable=False),
    Column("input_id", String(160)),
    Column("status_code", Integer, nullable=False),
    Column("job_id", String(64), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Index("ix_extraction_objects_parent", "user_id", "app_id", "parent_id"),
    Index("ix_extraction_objects_bucket", "user_id", "app_id", "bucket"),
)


def create_extraction_tables(conn: Connection) -> None:
    metadata.create_all(conn, tables=[extraction_jobs, extraction_objects])
    # Inputs whose source object was deleted are marked, not dropped (by setting).
    columns = {c["name"] for c in inspect(conn).get_columns("inputs")}
    if "deleted_at" not in columns:
        kind = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "TIMESTAMP"
        conn.execute(text(f"ALTER TABLE inputs ADD COLUMN deleted_at {kind}"))  # noqa: S608
