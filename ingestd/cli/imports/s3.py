"""`ingestd import s3`: an extraction job (a drop zone with --watch) over a bucket prefix."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pydantic import SecretStr, ValidationError

from connectors.blobs import S3Settings
from connectors.importers.dropzone_config import DropZoneSettings
from connectors.importers.dropzone_items import InputTemplate
from connectors.importers.items import parse_metadata_option
from connectors.importers.s3_source import S3Credentials, parse_s3_url
from ingestd.app.runtime import Runtime
from ingestd.cli.jobs import job_view, print_job
from ingestd.cli.options import (
    console,
    emit_json,
    emit_json_line,
    fail,
    failures_table,
    json_option,
    progress_bar,
)
from ingestd.cli.state import open_runtime, settings
from pipeline.errors import InputError
from pipeline.ids import check_id, new_run_id
from pipeline.ingest.inputs import check_metadata
from pipeline.limits import Limits
from pipeline.models import Concept, ConflictResolution

if TYPE_CHECKING:
    from connectors.importers.extraction_job import JobOutcome

ENV = "INGESTD_SOURCE_"  # the bucket's credentials (Settings.source_*), not INGESTD_S3_*


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
        None, "--endpoint-url", help=f"S3 endpoint (MinIO). Default: {ENV}ENDPOINT_URL."
    ),
    region: str | None = typer.Option(None, "--region", help=f"Default: {ENV}REGION."),
    access_key_id: str | None = typer.Option(
        None,
        "--access-key-id",
        help=f"Default: {ENV}ACCESS_KEY_ID, else boto3's chain.",
        show_default=False,
    ),
    secret_access_key: str | None = typer.Option(
        None,
        "--secret-access-key",
        help=f"Prefer the {ENV}SECRET_ACCESS_KEY variable (command lines are visible).",
        show_default=False,
    ),
    session_token: str | None = typer.Option(
        None, "--session-token", help=f"Default: {ENV}SESSION_TOKEN.", show_default=False
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
    as_json: bool = json_option("Print the outcome as JSON."),
) -> None:
    """Start an extraction job: every object under the prefix becomes inputs, archives extracted.

    The bucket's server and credentials come from INGESTD_SOURCE_ENDPOINT_URL, _REGION,
    _ACCESS_KEY_ID, _SECRET_ACCESS_KEY and _SESSION_TOKEN (or secret files, see
    INGESTD_SECRETS_DIR); the flags override them; with no key, boto3's default chain.
    """
    try:
        where = parse_s3_url(url)
        spec = _template(template, concept, dataset, metadata)
        creds = _credentials(
            settings().source_s3(
                endpoint_url=endpoint_url,
                region=region,
                access_key_id=access_key_id,
                secret_access_key=secret_access_key,
                session_token=session_token,
            )
        )
    except (ValueError, ValidationError) as exc:
        fail(str(exc))
        return
    with open_runtime() as rt:
        config = _dropzone(rt.settings.dropzone, interval, rescan_every, delete_inputs)
        job = rt.catalog.jobs.create(
            rt.settings.user_id,
            rt.settings.app_id,
            where.url,
            conflict_resolution=conflict.value,
            input_template=spec.model_dump(mode="json"),
            watch=watch,
            credentials=creds.source,
        )
        run_id = new_run_id()
        if not as_json:
            console.print(f"extraction job [bold]{job['id']}[/] for {where.url}, run {run_id}")
        outcome = _run_job(
            rt, config, job["id"], run_id, creds, sqs_queue, force, watch, cycles, as_json
        )
    _report(outcome, as_json)


def _dropzone(
    config: DropZoneSettings, interval: float | None, rescan_every: int | None, delete_inputs: bool
) -> DropZoneSettings:
    """This run's drop-zone settings: the options given on the command line on top (a copy)."""
    overrides: dict[str, Any] = {"delete_inputs": delete_inputs or config.delete_inputs}
    if interval is not None:
        overrides["poll_interval"] = interval
    if rescan_every is not None:
        overrides["rescan_every"] = rescan_every
    return config.model_copy(update=overrides)


def _run_job(
    rt: Runtime,
    config: DropZoneSettings,
    job_id: str,
    run_id: str,
    creds: S3Credentials,
    sqs_queue: str | None,
    force: bool,
    watch: bool,
    cycles: int | None,
    as_json: bool,
) -> JobOutcome:
    from connectors.importers.extraction_job import ExtractionJobRunner

    with progress_bar(disable=as_json) as bar:
        task = bar.add_task("listing", total=None)  # objects handled of objects listed so far
        polls: list[str] = []  # watch: the time of the last poll, on the live line

        def progressed(c: dict[str, int]) -> None:
            line = _progress_line(c) + (f" · last poll {polls[-1]}" if polls else "")
            bar.update(
                task,
                total=c["listed_objects_count"] or None,
                completed=c["done_objects_count"],
                description=line,
            )

        def polled(c: dict[str, int], at: datetime) -> None:
            polls[:] = [at.astimezone().strftime("%H:%M:%S")]
            view = _poll_view(c, at)
            if as_json:
                emit_json_line(view)
                return
            progressed(c)
            if not console.is_terminal:  # no live line in a log: one plain line per poll
                console.print(
                    f"poll {polls[-1]}: seen {view['objects_seen']} · stored {view['stored']}"
                    f" · failed {view['failed']} · deleted {view['deleted']}"
                )

        runner = ExtractionJobRunner(
            submit=rt.submit,
            catalog=rt.catalog,
            user_id=rt.settings.user_id,
            app_id=rt.settings.app_id,
            limits=rt.settings.limits,
            config=config,
            job_id=job_id,
            credentials=creds,
            sqs_queue_url=sqs_queue,
            force=force,
            on_progress=progressed,
            on_poll=polled,
            run_id=run_id,
        )
        return runner.run(watch=watch, cycles=cycles)


def _poll_view(c: dict[str, int], at: datetime) -> dict[str, Any]:
    """One watch poll under --json: what the job has seen, stored and failed so far."""
    return {
        "event": "poll",
        "polled_at": at.isoformat(),
        "objects_seen": c["listed_objects_count"],
        "stored": _stored(c),
        "failed": c["failed_inputs_count"],
        "deleted": c["deleted_objects_count"],
        "unchanged": c["unchanged_objects_count"],
    }


def _stored(c: dict[str, int]) -> int:
    return sum(c[f"{t}_inputs_count"] for t in ("image", "video", "audio", "text"))


def _report(outcome: JobOutcome, as_json: bool) -> None:
    if as_json:
        emit_json({**outcome.to_dict(), "job": job_view(outcome.job)})
    else:
        print_job(outcome.job)
        if outcome.failures:
            failures_table(outcome.failures, "failed inputs", "object")
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


def _credentials(source: S3Settings) -> S3Credentials:
    if (source.access_key_id is None) != (source.secret_access_key is None):
        raise ValueError(
            "give both --access-key-id and --secret-access-key (or neither, for boto3's chain); "
            f"{ENV}ACCESS_KEY_ID and {ENV}SECRET_ACCESS_KEY count too"
        )
    return S3Credentials(
        region=source.region,
        access_key_id=_reveal(source.access_key_id),
        secret_access_key=source.secret_access_key,
        session_token=source.session_token,
        endpoint_url=source.endpoint_url,
    )


def _reveal(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _progress_line(c: dict[str, int]) -> str:
    inputs = _stored(c)
    archives = sum(
        c[f"{s}_archives_count"] for s in ("pending", "in_progress", "completed", "failed")
    )
    return (
        f"objects · unchanged {c['unchanged_objects_count']} · "
        f"inputs {inputs} · failed {c['failed_inputs_count']} · archives "
        f"{c['completed_archives_count']}/{archives}"
    )
