"""`ingestd import s3` (extraction jobs, drop zones) and `ingestd jobs list|get|cancel`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from pydantic import SecretStr, ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connectors.catalog.extraction_tables import COUNTERS
from connectors.importers.dropzone_items import InputTemplate
from connectors.importers.items import parse_metadata_option
from connectors.importers.s3_source import S3Credentials, parse_s3_url
from ingestd.output import console, emit_json, fail, table
from ingestd.state import open_runtime
from pipeline.errors import InputError
from pipeline.ids import check_id
from pipeline.ingest.inputs import check_metadata
from pipeline.limits import Limits
from pipeline.models import Concept, ConflictResolution
from pipeline.status import StatusCode

jobs_app = typer.Typer(
    help="Cloud-storage extraction jobs (`ingestd import s3`): list, inspect, cancel.",
    no_args_is_help=True,
)
ENV = "INGESTD_SOURCE_"  # the bucket's credentials: not ingestd's own INGESTD_S3_*


def import_s3(
    url: str = typer.Argument(
        ...,
        help="s3://bucket/prefix. The prefix filters keys: s3://b/images/abc takes "
        "images/abcImage.png and everything under images/abc-1/.",
    ),
    watch: bool = typer.Option(
        False, "--watch", help="Keep the drop zone running: pick up new, changed, deleted objects."
    ),
    sqs_queue: str | None = typer.Option(
        None, "--sqs-queue", help="URL of an SQS queue receiving the bucket's S3 notifications."
    ),
    concept: list[str] | None = typer.Option(
        None, "--concept", "-c", help="Concept id on every input (repeatable)."
    ),
    dataset: list[str] | None = typer.Option(
        None, "--dataset", "-d", help="Dataset id for every input (repeatable)."
    ),
    metadata: str | None = typer.Option(None, "--metadata", help="JSON object for every input."),
    template: str | None = typer.Option(
        None,
        "--template",
        help="input_template as JSON or @file.json: {data: {concepts, metadata}, dataset_ids}.",
    ),
    conflict: ConflictResolution = typer.Option(
        ConflictResolution.SKIP,
        "--conflict",
        help="An input id taken by other content: SKIP it, or SUFFIX (-1..-9, then random).",
    ),
    endpoint_url: str | None = typer.Option(
        None, "--endpoint-url", envvar=f"{ENV}ENDPOINT_URL", help="S3 endpoint (MinIO)."
    ),
    region: str | None = typer.Option(None, "--region", envvar=f"{ENV}REGION"),
    access_key_id: str | None = typer.Option(
        None, "--access-key-id", envvar=f"{ENV}ACCESS_KEY_ID", help="Default: boto3's chain."
    ),
    secret_access_key: str | None = typer.Option(
        None,
        "--secret-access-key",
        envvar=f"{ENV}SECRET_ACCESS_KEY",
        help=f"Prefer the {ENV}SECRET_ACCESS_KEY variable (command lines are visible).",
        show_default=False,
    ),
    session_token: str | None = typer.Option(
        None, "--session-token", envvar=f"{ENV}SESSION_TOKEN", show_default=False
    ),
    interval: float | None = typer.Option(None, "--interval", help="Watch: seconds per cycle."),
    rescan_every: int | None = typer.Option(
        None, "--rescan-every", help="Watch: a full listing every N cycles (0: never)."
    ),
    delete_inputs: bool = typer.Option(
        False, "--delete-inputs", help="Mark inputs of objects deleted from the bucket deleted."
    ),
    force: bool = typer.Option(False, "--force", help="Read every object, even unchanged ones."),
    cycles: int | None = typer.Option(None, "--cycles", hidden=True),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Start an extraction job: every object under the prefix becomes inputs, archives extracted."""
    from connectors.importers.extraction_job import ExtractionJobRunner

    try:
        where = parse_s3_url(url)
        spec = _template(template, concept, dataset, metadata)
        creds = _credentials(endpoint_url, region, access_key_id, secret_access_key, session_token)
    except (ValueError, ValidationError) as exc:
        fail(str(exc))
        return
    with open_runtime() as rt:
        overrides: dict[str, Any] = {
            "delete_inputs": delete_inputs or rt.settings.dropzone.delete_inputs
        }
        if interval is not None:
            overrides["poll_interval"] = interval
        if rescan_every is not None:
            overrides["rescan_every"] = rescan_every
        rt.settings.dropzone = rt.settings.dropzone.model_copy(update=overrides)
        job = rt.catalog.jobs.create(
            rt.settings.user_id,
            rt.settings.app_id,
            where.url,
            conflict_resolution=conflict.value,
            input_template=spec.model_dump(mode="json"),
            watch=watch,
            credentials=creds.source,
        )
        if not as_json:
            console.print(f"extraction job [bold]{job['id']}[/] for {where.url}")
        with Progress(
            BarColumn(),
            MofNCompleteColumn(),  # objects handled of objects listed so far
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as bar:
            task = bar.add_task("listing", total=None)
            runner = ExtractionJobRunner(
                submit=rt.submit,
                catalog=rt.catalog,
                user_id=rt.settings.user_id,
                app_id=rt.settings.app_id,
                limits=rt.settings.limits,
                config=rt.settings.dropzone,
                job_id=job["id"],
                credentials=creds,
                sqs_queue_url=sqs_queue,
                force=force,
                on_progress=lambda c: bar.update(
                    task,
                    total=c["listed_objects_count"] or None,
                    completed=c["done_objects_count"],
                    description=_progress_line(c),
                ),
            )
            outcome = runner.run(watch=watch, cycles=cycles)
    if as_json:
        emit_json({**outcome.to_dict(), "job": job_view(outcome.job)})
    else:
        _print_job(outcome.job)
        if outcome.failures:
            table(
                "failed inputs",
                ["object", "code", "message"],
                [
                    (f["item"], f"{f['code']} {f['status']}", f["message"])
                    for f in outcome.failures[:20]
                ],
            )
        if outcome.deleted:
            console.print(f"deleted from the bucket: {', '.join(outcome.deleted[:20])}")
    if outcome.failed:
        raise typer.Exit(1)


def _template(
    text: str | None, concepts: list[str] | None, datasets: list[str] | None, metadata: str | None
) -> InputTemplate:
    raw: dict[str, Any] = {}
    if text:
        body = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
        try:
            raw = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--template is not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError("--template must be a JSON object")
    spec = InputTemplate.from_reference(raw)
    spec.concepts += [Concept(id=c) for c in concepts or []]
    spec.dataset_ids += [d for d in datasets or [] if d not in spec.dataset_ids]
    spec.metadata.update(parse_metadata_option(metadata))
    try:
        check_metadata(spec.metadata, Limits())
    except InputError as exc:
        raise ValueError(f"template metadata: {exc.message}") from None
    for dataset_id in spec.dataset_ids:
        try:
            check_id(dataset_id, "dataset id")
        except Exception as exc:
            raise ValueError(str(exc)) from None
    return spec


def _credentials(
    endpoint: str | None, region: str | None, key: str | None, secret: str | None, token: str | None
) -> S3Credentials:
    if bool(key) != bool(secret):
        raise ValueError(
            "give both --access-key-id and --secret-access-key (or neither, for boto3's chain)"
        )
    return S3Credentials(
        region=region,
        access_key_id=key,
        secret_access_key=SecretStr(secret) if secret else None,
        session_token=SecretStr(token) if token else None,
        endpoint_url=endpoint,
    )


def _progress_line(c: dict[str, int]) -> str:
    inputs = sum(c[f"{t}_inputs_count"] for t in ("image", "video", "audio", "text"))
    archives = sum(
        c[f"{s}_archives_count"] for s in ("pending", "in_progress", "completed", "failed")
    )
    return (
        f"objects · unchanged {c['unchanged_objects_count']} · "
        f"inputs {inputs} · failed {c['failed_inputs_count']} · archives "
        f"{c['completed_archives_count']}/{archives}"
    )


def job_view(job: dict[str, Any]) -> dict[str, Any]:
    """A job as the reference's InputsExtractionJob, plus our own counters."""
    code = StatusCode(job["status_code"])
    return {
        "id": job["id"],
        "url": job["url"],
        "status": {"code": int(code), "description": code.name, "details": job["status_message"]},
        "progress": {k: job[k] for k in COUNTERS},
        "input_id_conflict_resolution": job["input_id_conflict_resolution"],
        "input_template": job["input_template"],
        "watch": job["watch"],
        "credentials": job["credentials"],
        "created_at": job["created_at"],
        "modified_at": job["modified_at"],
    }


def _print_job(job: dict[str, Any]) -> None:
    view = job_view(job)
    status = view["status"]
    colour = "green" if status["code"] == StatusCode.JOB_COMPLETED else "yellow"
    if status["code"] == StatusCode.JOB_FAILED:
        colour = "red"
    console.print(
        f"job {view['id']}: [{colour}]{status['code']} {status['description']}[/]"
        + (f" — {status['details']}" if status["details"] else "")
    )
    table("progress", ["counter", "value"], [(k, v) for k, v in view["progress"].items() if v])


@jobs_app.command("list")
def jobs_list(
    limit: int = typer.Option(100, "--limit", help="Newest first, at most this many."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Extraction jobs of the app, newest first."""
    with open_runtime() as rt:
        jobs = rt.catalog.jobs.list_jobs(rt.settings.user_id, rt.settings.app_id, limit)
    if as_json:
        emit_json([job_view(j) for j in jobs])
        return
    table(
        "extraction jobs",
        ["id", "url", "status", "inputs", "failed", "archives done/failed", "modified"],
        [
            (
                j["id"],
                j["url"],
                f"{j['status_code']} {StatusCode(j['status_code']).name}",
                sum(j[f"{t}_inputs_count"] for t in ("image", "video", "audio", "text")),
                j["failed_inputs_count"],
                f"{j['completed_archives_count']}/{j['failed_archives_count']}",
                j["modified_at"],
            )
            for j in jobs
        ],
    )


@jobs_app.command("get")
def jobs_get(
    job_id: str = typer.Argument(..., help="Job id, as `import s3` or `jobs list` printed it."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One job: status, progress counters, template and times."""
    with open_runtime() as rt:
        job = rt.catalog.jobs.get(rt.settings.user_id, rt.settings.app_id, job_id)
    if job is None:
        fail(f"no extraction job {job_id!r} in this app")
        return
    if as_json:
        emit_json(job_view(job))
        return
    console.print(
        f"url: {job['url']}   created {job['created_at']}   modified {job['modified_at']}"
    )
    _print_job(job)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: str = typer.Argument(..., help="Job id to stop."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Stop a queued or running job; it submits nothing more and its sent batches finish whole."""
    with open_runtime() as rt:
        jobs = rt.catalog.jobs
        before = jobs.get(rt.settings.user_id, rt.settings.app_id, job_id)
        if before is None:
            fail(f"no extraction job {job_id!r} in this app")
            return
        after = jobs.cancel(rt.settings.user_id, rt.settings.app_id, job_id) or before
    if as_json:
        emit_json(job_view(after))
    if before["status_code"] not in (StatusCode.JOB_QUEUED, StatusCode.JOB_RUNNING):
        name = StatusCode(before["status_code"]).name
        fail(f"job {job_id} is already {before['status_code']} {name}; nothing to cancel")
    if not as_json:
        console.print(
            f"job {job_id}: cancel requested ({StatusCode.JOB_CANCELLED.value} JOB_CANCELLED)"
        )
