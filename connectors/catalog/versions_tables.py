"""Catalog table of dataset versions (migration 0003_dataset_versions)."""

from sqlalchemy import BigInteger, Column, Index, Integer, String, Text, text
from sqlalchemy.engine import Connection

from connectors.catalog.schema import Json, metadata, tenant_table

dataset_versions = tenant_table(
    "dataset_versions",
    Column("id", String(160), primary_key=True),
    Column("dataset_id", String(160), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("status_message", Text, nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("metadata", Json, nullable=False),
    Column("request_origin", String(32), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("request_fingerprint", String(64), nullable=False),
    Column("annotation_filter_config", Json),
    Column("export_formats", Json, nullable=False),
    Column("metrics", Json),
    Column("manifest_key", String(600)),
    Column("manifest_size", BigInteger),
    Column("content_hash", String(64)),
    Column("export_info", Json, nullable=False),
    Column("progress", BigInteger, nullable=False, default=0),
    Column("total", BigInteger),
    Index("ix_dataset_versions_dataset", "user_id", "app_id", "dataset_id", "created_at"),
)


def create(conn: Connection) -> None:
    metadata.create_all(conn, tables=[dataset_versions])
    if conn.dialect.name == "postgresql":
        # Manifests are sorted by input id byte-wise (as Python and SQLite sort); this index
        # lets PostgreSQL walk a dataset in that order whatever the database's collation.
        conn.execute(
            text(
                "CREATE INDEX IF NOT EXISTS ix_dataset_inputs_bytewise ON dataset_inputs "
                '(user_id, app_id, dataset_id, input_id COLLATE "C")'
            )
        )
