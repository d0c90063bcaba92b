"""Inputs-add jobs of `ingestd serve` (the platform's `inputs_add_job_id`): which upload
requests a job id stands for, kept in the catalog so GetInputsAddJob answers after a restart
and from any server in front of Kafka workers (the workers record each request's outcome).

Inputs a server refuses before the ingest stage (a message that cannot become an input) are
counted on the job's row and written to `refused_inputs`, so listings and counts add up.
Migration `0014_api_add_jobs` creates the table and the API keys' lookup index.

A job's progress is one row of `add_job_counts` (migration `0016_add_job_counts`), the
record every worker updates: who submits (an import run, PostInputs) adds what it hands to
the ingest stage and what it refused before; the stage's commit adds each request's
outcomes in the transaction that stores them (a request is committed once: its processed
row is claimed first), the media stage moves an input from in progress to done in the
transaction that finishes it, and a request's dead letter counts its inputs failed. A
request belongs to the job named by its `run_id`, else its `job_id` (`add_job_of`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, DateTime, Integer, String, Table, bindparam, inspect, select, text
from sqlalchemy.engine import Connection

from connectors.catalog import schema
from connectors.catalog.rows import of_tenant, utc_now
from pipeline.records import InputOutcome

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog

add_jobs = Table(
    "add_jobs",
    schema.metadata,
    *schema.tenant_columns(),
    Column("job_id", String(160), primary_key=True),
    # The UploadRequest posted under the job; a request that submitted nothing (every input
    # refused before the stage) gets an id of its own so its refusals are still counted.
    Column("request_id", String(64), primary_key=True),
    Column("submitted", Integer, nullable=False),
    Column("refused", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

add_job_counts = Table(
    "add_job_counts",
    schema.metadata,
    *schema.tenant_columns(),
    Column("job_id", String(160), primary_key=True),
    Column("source", String(32), nullable=False),
    Column("submitted", Integer, nullable=False),  # inputs handed to the ingest stage
    Column("refused", Integer, nullable=False),  # inputs refused before it
    Column("succeeded", Integer, nullable=False),
    Column("failed", Integer, nullable=False),  # by the stage, or dead-lettered
    Column("in_progress", Integer, nullable=False),  # left to the media stage
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
)
COUNTS = ("submitted", "refused", "succeeded", "failed", "in_progress")

SECRET_INDEX, KEY_INDEX_NAME = "secret_index", "ix_api_keys_secret_index"  # api_keys'


@dataclass(frozen=True)
class JobRequest:
    request_id: str
    submitted: int  # inputs handed to the ingest stage
    refused: int  # inputs refused before it


def count(conn: Connection, deltas: dict[tuple[str, str, str], Counter[str]], now: Any) -> None:
    """Add to the counts of existing jobs (user, app, job id → counter deltas); a job
    nobody recorded (a request sent by a service of its own) is left alone."""
    rows = [
        {"u": u, "a": a, "j": j, "modified_at": now, **{f"d_{k}": d[k] for k in COUNTS}}
        for (u, a, j), d in sorted(deltas.items())
        if any(d.values())
    ]
    if not rows:
        return
    c = add_job_counts.c
    values: dict[str, Any] = {k: c[k] + bindparam(f"d_{k}") for k in COUNTS}
    stmt = (
        add_job_counts.update()
        .where(c.user_id == bindparam("u"), c.app_id == bindparam("a"), c.job_id == bindparam("j"))
        .values(**values, modified_at=bindparam("modified_at"))
    )
    conn.execute(stmt, rows)


class AddJobCatalog:
    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def add(
        self,
        user_id: str,
        app_id: str,
        job_id: str,
        source: str,
        *,
        submitted: int = 0,
        refused: int = 0,
        conn: Connection | None = None,
    ) -> None:
        """Start the job's record, or add to what was submitted and refused (before it is
        submitted: a poll in between sees the inputs pending)."""
        if conn is None:
            with self.catalog.begin() as own:
                self.add(
                    user_id, app_id, job_id, source, submitted=submitted, refused=refused, conn=own
                )
            return
        now = utc_now()
        stmt = self.catalog.insert(add_job_counts).values(
            user_id=user_id,
            app_id=app_id,
            job_id=job_id,
            source=source,
            submitted=submitted,
            refused=refused,
            succeeded=0,
            failed=0,
            in_progress=0,
            created_at=now,
            modified_at=now,
        )
        c = add_job_counts.c
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["user_id", "app_id", "job_id"],
                set_={
                    "submitted": c.submitted + stmt.excluded.submitted,
                    "refused": c.refused + stmt.excluded.refused,
                    "modified_at": stmt.excluded.modified_at,
                },
            )
        )

    def counts(self, user_id: str, app_id: str, job_id: str) -> dict[str, Any] | None:
        """The job's record: its counts, source and times (None: no such job)."""
        c = add_job_counts.c
        query = select(add_job_counts).where(
            of_tenant(add_job_counts, user_id, app_id), c.job_id == job_id
        )
        with self.catalog.begin() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        done = row["succeeded"] + row["failed"] + row["in_progress"]
        return {**dict(row), "pending": max(0, row["submitted"] - done)}

    def record(
        self,
        user_id: str,
        app_id: str,
        job_id: str,
        request_id: str,
        submitted: int,
        refused: Sequence[InputOutcome],
    ) -> None:
        """One request of the job (recorded before it is submitted, so a poll in between
        sees it pending) and its refused inputs, in one transaction."""
        now = utc_now()
        with self.catalog.begin() as conn:
            conn.execute(
                self.catalog.insert(add_jobs)
                .values(
                    user_id=user_id,
                    app_id=app_id,
                    job_id=job_id,
                    request_id=request_id,
                    submitted=submitted,
                    refused=len(refused),
                    created_at=now,
                )
                .on_conflict_do_nothing(
                    index_elements=["user_id", "app_id", "job_id", "request_id"]
                )
            )
            self.add(
                user_id, app_id, job_id, "api", submitted=submitted, refused=len(refused), conn=conn
            )
            # A refused input without an id is listed under one that names its request.
            named = [
                o if o.requested_id else replace(o, requested_id=f"(no id) {request_id}#{o.index}")
                for o in refused
            ]
            self.catalog.record_refused(conn, user_id, app_id, request_id, named, now)

    def requests(self, user_id: str, app_id: str, job_id: str) -> list[JobRequest]:
        """The job's requests in the order they came; empty when there is no such job."""
        c = add_jobs.c
        query = (
            select(c.request_id, c.submitted, c.refused)
            .where(of_tenant(add_jobs, user_id, app_id), c.job_id == job_id)
            .order_by(c.created_at, c.request_id)
        )
        with self.catalog.begin() as conn:
            return [JobRequest(*row) for row in conn.execute(query)]


def create_counts(conn: Connection) -> None:
    """Migration 0016: one record of counts per add-job."""
    schema.metadata.create_all(conn, tables=[add_job_counts])


def create(conn: Connection) -> None:
    """Migration 0014: the add_jobs table, and the keys' lookup index column (a new catalog
    has it already; keys made before it are indexed the first time they are used)."""
    schema.metadata.create_all(conn, tables=[add_jobs])
    found = inspect(conn)
    if SECRET_INDEX not in {c["name"] for c in found.get_columns("api_keys")}:
        conn.execute(text(f"ALTER TABLE api_keys ADD COLUMN {SECRET_INDEX} VARCHAR(64)"))
    if KEY_INDEX_NAME not in {i["name"] for i in inspect(conn).get_indexes("api_keys")}:
        conn.execute(text(f"CREATE INDEX {KEY_INDEX_NAME} ON api_keys ({SECRET_INDEX})"))
