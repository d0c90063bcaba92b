"""`ingestd inputs list|get|status|patch|delete`: what is stored, its status, changing it."""

from __future__ import annotations

import typer

from ingestd.cli.inputs_manage import inputs_delete, inputs_patch
from ingestd.cli.inputs_media import add_text, inputs_download, show_text
from ingestd.cli.option_groups import Page, grouped, page_options
from ingestd.cli.options import (
    JsonOpt,
    coded,
    console,
    emit_json,
    fail,
    status_text,
    table,
)
from ingestd.cli.search_options import SearchArgs
from ingestd.cli.state import open_runtime
from pipeline.errors import InputError
from pipeline.search import MAX_PAGE
from pipeline.status import StatusCode

app = typer.Typer(help="List, inspect, patch and delete stored inputs.", no_args_is_help=True)


@app.command("list")
@grouped(paging=page_options("Inputs", MAX_PAGE, after="input id"), search=SearchArgs)
def inputs_list(
    failed: bool = typer.Option(False, "--failed", help="Only inputs that failed."),
    cursor: str | None = typer.Option(
        None, "--cursor", help="Continue a listing: the next_cursor it printed."
    ),
    *,
    paging: Page,
    search: SearchArgs,
    as_json: bool = JsonOpt,
) -> None:
    """List inputs matching the filters (all of them), a page at a time; `--json` gives
    `next_cursor` for the next page."""
    query = search.query(limit=paging.limit, after_id=paging.after, cursor=cursor, failed=failed)
    with open_runtime() as rt:
        s = rt.settings
        try:
            page = rt.catalog.inputs.listing(s.user_id, s.app_id, query)
        except InputError as exc:
            fail(coded(exc.code, exc.message))
    if as_json:
        emit_json({"inputs": page.rows, "next_cursor": page.next_cursor})
        return
    table(
        f"inputs of {s.user_id}/{s.app_id}",
        ["id", "type", "format", "status", "size", "message"],
        [
            (
                r["id"],
                r["media_type"],
                r["format"],
                status_text(r["status_code"]),
                r["size"],
                r["status_message"][:80],
            )
            for r in page.rows
        ],
    )
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@app.command("get")
def inputs_get(input_id: str, as_json: bool = JsonOpt) -> None:
    """Show one input with its annotations, datasets and lineage (where it came from)."""
    with open_runtime() as rt:
        row = rt.catalog.get_input(rt.settings.user_id, rt.settings.app_id, input_id)
        if row is not None:
            add_text(rt.blobs, row)
            row["lineage"] = rt.catalog.lineage.get(
                rt.settings.user_id, rt.settings.app_id, input_id
            )
    if row is None:
        fail(coded(StatusCode.INPUT_DOES_NOT_EXIST, f"no input {input_id!r}"))
        return
    if as_json:
        emit_json(row)
        return
    for key in (
        "id",
        "media_type",
        "format",
        "status_code",
        "status_message",
        "blob_key",
        "sha256",
        "size",
        "width",
        "height",
        "source_url",
        "concepts",
        "metadata",
        "geo",
        "dataset_ids",
        "created_at",
        "modified_at",
    ):
        value = status_text(row[key]) if key == "status_code" else row[key]
        console.print(f"[bold]{key}[/]: {value}")
    console.print("[bold]lineage[/]:")
    for key, value in (row["lineage"] or {}).items():
        if value is not None:
            console.print(f"  {key}: {value}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"[bold]annotations[/]: {len(row['annotations'])}")
    for ann in row["annotations"]:
        console.print(
            f"  {ann['id']} {ann['status']} by {ann['annotation_user_id']}: {ann['data']}"
        )
    show_text(row)


@app.command("status")
def inputsstatus_text(
    run: str | None = typer.Option(
        None,
        "--run",
        help="The progress of one import run (or PostInputs job) instead: its id as the "
        "import printed it.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Counts of the app's inputs: processed, to process, processing, errors; with --run,
    one import's progress, as the workers record it."""
    if run is not None:
        run_status(run, as_json)
        return
    with open_runtime() as rt:
        counts = rt.catalog.input_counts(rt.settings.user_id, rt.settings.app_id)
    if as_json:
        emit_json(counts)
        return
    table(
        "input status",
        ["processed", "to_process", "processing", "errors"],
        [(counts["processed"], counts["to_process"], counts["processing"], counts["errors"])],
    )
    if counts["errors"]:
        raise typer.Exit(1)


def run_status(run: str, as_json: bool) -> None:
    with open_runtime() as rt:
        s = rt.settings
        job = rt.catalog.add_jobs.counts(s.user_id, s.app_id, run)
    if job is None:
        fail(coded(StatusCode.CONN_DOES_NOT_EXIST, f"no import run or add-job {run!r} in this app"))
        return
    done = job["pending"] == 0 and job["in_progress"] == 0
    if as_json:
        emit_json({**job, "done": done})
    else:
        names = ["submitted", "succeeded", "failed", "refused", "in_progress", "pending"]
        table(
            f"run {run} ({job['source']}): {'done' if done else 'running'}",
            names,
            [tuple(job[n] for n in names)],
        )
    if job["failed"] or job["refused"]:
        raise typer.Exit(1)


app.command("download")(inputs_download)
app.command("patch")(inputs_patch)
app.command("delete")(inputs_delete)
