"""Catalog tables of collectors: API keys, workflows, collectors, concept relations, quotas."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Connection

from connectors.catalog.schema import (
    Json,
    metadata,
    tenant_columns,
    tenant_table,
    timestamp_columns,
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    *tenant_columns(key=False),
    Column("scopes", Json, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("secret_hash", String(128), nullable=False),
    Column("salt", String(64), nullable=False),
    *timestamp_columns(),
    # pipeline.keys.secret_index of the secret: a presented secret is found by one indexed
    # select, so an unknown one costs no scrypt (added by migration 0014; NULL before it).
    Column("secret_index", String(64)),
    Index("ix_api_keys_app", "user_id", "app_id"),
    Index("ix_api_keys_secret_index", "secret_index"),
)

workflows = tenant_table(
    "workflows",
    Column("id", String(160), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("nodes", Json, nullable=False),
)

collectors = tenant_table(
    "collectors",
    Column("id", String(160), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("pre_queue_workflow_id", String(160), nullable=False, default=""),
    Column("pre_queue_random_sample", Float),
    Column("post_queue_workflow_id", String(160), nullable=False, default=""),
    Column("model_user_id", String(128), nullable=False),
    Column("model_app_id", String(128), nullable=False),
    Column("model_id", String(160), nullable=False),
    Column("model_version_id", String(160), nullable=False, default=""),
    Column("caller_user_id", String(128), nullable=False, default=""),
    Column("post_inputs_key_id", String(64), nullable=False),
    Column("collect_outputs", Boolean, nullable=False, default=False),
    Column("dataset_id", String(160)),
    Column("status", String(16), nullable=False),
    Index("ix_collectors_source", "model_user_id", "model_app_id", "model_id"),
)

concept_relations = tenant_table(
    "concept_relations",
    Column("subject", String(256), primary_key=True),
    Column("predicate", String(16), primary_key=True),
    Column("object", String(256), primary_key=True),
)

# Quota counters shared by every worker: one row per scope and time window, incremented
# with an atomic upsert. Grants remember which event took a unit, so a replay takes none.
quota_counters = Table(
    "quota_counters",
    metadata,
    Column("scope", String(400), primary_key=True),
    Column("window", String(8), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
)

quota_grants = Table(
    "quota_grants",
    metadata,
    Column("scope", String(400), primary_key=True),
    Column("event_id", String(160), primary_key=True),
    Column("granted_at", BigInteger, nullable=False),
    Index("ix_quota_grants_age", "scope", "granted_at"),
)


def create(conn: Connection) -> None:
    metadata.create_all(
        conn,
        tables=[api_keys, workflows, collectors, concept_relations, quota_counters, quota_grants],
    )
