"""Shared set-up of the drop-zone tests: a bucket on a test S3 server and a job runner."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.importers.dropzone_items import InputTemplate
from connectors.importers.extraction_job import ExtractionJobRunner, JobOutcome
from connectors.importers.s3_source import S3Credentials
from ingestd.app.runtime import Runtime
from pipeline.limits import Limits
from tests.support.s3_server import S3Server


def new_bucket(server: S3Server) -> tuple[Any, str]:
    client = server.client()
    bucket = f"dz-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


def put_many(client: Any, bucket: str, objects: dict[str, bytes]) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), objects.items()
            )
        )


def credentials(server: S3Server, secret: str | None = None) -> S3Credentials:
    """The server's root credentials; `secret` replaces its secret (a wrong one)."""
    return S3Credentials(
        region="us-east-1",
        access_key_id=server.access_key_id,
        secret_access_key=SecretStr(server.secret_access_key if secret is None else secret),
        endpoint_url=server.endpoint_url,
    )


def runner_for(
    rt: Runtime,
    server: S3Server,
    url: str,
    tmp_path: Path,
    *,
    template: InputTemplate | None = None,
    conflict: str = "SKIP",
    watch: bool = False,
    sqs: str | None = None,
    force: bool = False,
    secret: str | None = None,
    on_progress: Any = None,
    limits: Limits | None = None,
    **dropzone: Any,
) -> ExtractionJobRunner:
    config = rt.settings.dropzone.model_copy(  # this job's copy: settings stay as loaded
        update={"work_dir": str(tmp_path / "extract"), "poll_interval": 0.0, **dropzone}
    )
    creds = credentials(server, secret)
    job = rt.catalog.jobs.create(
        rt.settings.user_id,
        rt.settings.app_id,
        url,
        conflict_resolution=conflict,
        input_template=(template or InputTemplate()).model_dump(mode="json"),
        watch=watch,
        credentials=creds.source,
    )
    return ExtractionJobRunner(
        submit=rt.submit,
        catalog=rt.catalog,
        user_id=rt.settings.user_id,
        app_id=rt.settings.app_id,
        limits=limits or rt.settings.limits,
        config=config,
        job_id=job["id"],
        credentials=creds,
        sqs_queue_url=sqs,
        force=force,
        on_progress=on_progress,
    )


def run_job(rt: Runtime, server: S3Server, url: str, tmp_path: Path, **kw: Any) -> JobOutcome:
    cycles = kw.pop("cycles", None)
    runner = runner_for(rt, server, url, tmp_path, **kw)
    return runner.run(watch=kw.get("watch", False), cycles=cycles)


def count_gets(runner: ExtractionJobRunner) -> list[str]:
    """Keys the runner reads with GetObject, recorded through botocore's event hooks."""
    seen: list[str] = []
    runner.client.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: seen.append(params["Key"])
    )
    return seen


def record_lists(runner: ExtractionJobRunner) -> list[dict[str, Any]]:
    """The parameters of each ListObjectsV2 call the runner makes (botocore's event hooks)."""
    calls: list[dict[str, Any]] = []
    runner.client.meta.events.register(
        "provide-client-params.s3.ListObjectsV2", lambda params, **_: calls.append(dict(params))
    )
    return calls


def watch_run(
    runner: ExtractionJobRunner, cycles: int
) -> tuple[list[dict[str, Any]], list[str], JobOutcome]:
    """Run `runner` in watch mode for `cycles`: its ListObjectsV2 calls, the keys it got, and
    the outcome."""
    lists = record_lists(runner)
    gets = count_gets(runner)
    return lists, gets, runner.run(watch=True, cycles=cycles)


def job_inputs(rt: Runtime, job_id: str | None = None) -> dict[str, dict[str, Any]]:
    rows = rt.catalog.iter_inputs(rt.settings.user_id, rt.settings.app_id)
    return {r["id"]: r for r in rows if job_id is None or r["job_id"] == job_id}
