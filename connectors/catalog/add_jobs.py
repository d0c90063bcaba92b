"""Inputs-add jobs of `ingestd serve` (the platform's `inputs_add_job_id`): which upload
requests a job id stands for, kept in the catalog so GetInputsAddJob answers after a restart
and from any server in front of Kafka workers (the workers record each request's outcome).

Inputs a server refuses before the ingest stage (a message that cannot become an input) are
counted on the job's row and written to `refused_inputs`, so listings and counts add up.
Migration `0014_api_add_jobs` creates the table and the API keys' lookup index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy import Column, DateTime, Integer, String, Table, inspect, select, text
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

SECRET_INDEX, KEY_INDEX_NAME = "secret_index", "ix_api_keys_secret_index"  # api_keys'


@dataclass(frozen=True)
class JobRequest:
    request_id: str
    submitted: int  # inputs handed to the ingest stage
    refused: int  # inputs refused before it


class AddJobCatalog:
    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

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


def create(conn: Connection) -> None:
    """Migration 0014: the add_jobs table, and the keys' lookup index column (a new catalog
    has it already; keys made before it are indexed the first time they are used)."""
    schema.metadata.create_all(conn, tables=[add_jobs])
    found = inspect(conn)
    if SECRET_INDEX not in {c["name"] for c in found.get_columns("api_keys")}:
        conn.execute(text(f"ALTER TABLE api_keys ADD COLUMN {SECRET_INDEX} VARCHAR(64)"))
    if KEY_INDEX_NAME not in {i["name"] for i in inspect(conn).get_indexes("api_keys")}:
        conn.execute(text(f"CREATE INDEX {KEY_INDEX_NAME} ON api_keys ({SECRET_INDEX})"))
