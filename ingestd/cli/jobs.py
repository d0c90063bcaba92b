"""`ingestd jobs list|get|cancel`: the extraction jobs `ingestd import s3` starts."""

from __future__ import annotations

from typing import Any

import typer

from connectors.catalog.extraction_tables import COUNTERS
from ingestd.cli.options import JsonOpt, console, emit_json, fail, found, status_text, table
from ingestd.cli.state import get_or_fail, open_runtime
from pipeline.status import StatusCode

app = typer.Typer(
    help="Cloud-storage extraction jobs (`ingestd import s3`): list, inspect, cancel.",
    no_args_is_help=True,
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


def print_job(job: dict[str, Any]) -> None:
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


@app.command("list")
def jobs_list(
    limit: int = typer.Option(100, "--limit", help="Newest first, at most this many."),
    as_json: bool = JsonOpt,
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
                status_text(j["status_code"]),
                sum(j[f"{t}_inputs_count"] for t in ("image", "video", "audio", "text")),
                j["failed_inputs_count"],
                f"{j['completed_archives_count']}/{j['failed_archives_count']}",
                j["modified_at"],
            )
            for j in jobs
        ],
    )


@app.command("get")
def jobs_get(
    job_id: str = typer.Argument(..., help="Job id, as `import s3` or `jobs list` printed it."),
    as_json: bool = JsonOpt,
) -> None:
    """One job: status, progress counters, template and times."""
    job, _ = get_or_fail(lambda c: c.jobs, job_id, _no_job(job_id))
    if as_json:
        emit_json(job_view(job))
        return
    console.print(
        f"url: {job['url']}   created {job['created_at']}   modified {job['modified_at']}"
    )
    print_job(job)


@app.command("cancel")
def jobs_cancel(
    job_id: str = typer.Argument(..., help="Job id to stop."),
    as_json: bool = JsonOpt,
) -> None:
    """Stop a queued or running job; it submits nothing more and its sent batches finish whole."""
    with open_runtime() as rt:
        jobs = rt.catalog.jobs
        before = found(jobs.get(rt.settings.user_id, rt.settings.app_id, job_id), _no_job(job_id))
        after = jobs.cancel(rt.settings.user_id, rt.settings.app_id, job_id) or before
    if as_json:
        emit_json(job_view(after))
    if before["status_code"] not in (StatusCode.JOB_QUEUED, StatusCode.JOB_RUNNING):
        fail(f"job {job_id} is already {status_text(before['status_code'])}; nothing to cancel")
    if not as_json:
        console.print(
            f"job {job_id}: cancel requested ({StatusCode.JOB_CANCELLED.value} JOB_CANCELLED)"
        )


def _no_job(job_id: str) -> str:
    return f"no extraction job {job_id!r} in this app"
