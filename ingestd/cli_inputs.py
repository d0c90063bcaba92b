"""`ingestd inputs ...` and `ingestd datasets ...`: what is stored, and its status."""

from __future__ import annotations

import typer

from ingestd.cli_versions import versions_app
from ingestd.cli_versions_edit import filter_app
from ingestd.output import console, emit_json, fail, table
from ingestd.state import open_runtime
from pipeline.ids import check_id
from pipeline.status import StatusCode

inputs_app = typer.Typer(help="List and inspect stored inputs.", no_args_is_help=True)
datasets_app = typer.Typer(
    help="Datasets: create, list, their inputs, default annotation filter and versions.",
    no_args_is_help=True,
)
datasets_app.add_typer(versions_app, name="versions")
datasets_app.add_typer(filter_app, name="filter")

JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def _status(code: int) -> str:
    try:
        return f"{code} {StatusCode(code).name}"
    except ValueError:
        return str(code)


@inputs_app.command("list")
def inputs_list(
    failed: bool = typer.Option(False, "--failed", help="Only inputs that failed."),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d", help="Only inputs of this dataset."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="Inputs per page."),
    after: str = typer.Option("", "--after", help="Start after this input id (next page)."),
    as_json: bool = JsonOpt,
) -> None:
    """List inputs in id order, a page at a time."""
    with open_runtime() as rt:
        s = rt.settings
        rows = rt.catalog.list_inputs(
            s.user_id, s.app_id, after_id=after, limit=limit, failed_only=failed, dataset_id=dataset
        )
    if as_json:
        emit_json(rows)
        return
    table(
        f"inputs of {s.user_id}/{s.app_id}",
        ["id", "type", "format", "status", "size", "message"],
        [
            (
                r["id"],
                r["media_type"],
                r["format"],
                _status(r["status_code"]),
                r["size"],
                r["status_message"][:80],
            )
            for r in rows
        ],
    )
    if len(rows) == limit:
        console.print(f"more: --after {rows[-1]['id']}")


@inputs_app.command("get")
def inputs_get(input_id: str, as_json: bool = JsonOpt) -> None:
    """Show one input with its annotations and datasets."""
    with open_runtime() as rt:
        row = rt.catalog.get_input(rt.settings.user_id, rt.settings.app_id, input_id)
    if row is None:
        fail(f"{StatusCode.INPUT_DOES_NOT_EXIST.value} INPUT_DOES_NOT_EXIST: no input {input_id!r}")
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
        value = _status(row[key]) if key == "status_code" else row[key]
        console.print(f"[bold]{key}[/]: {value}")
    console.print(f"[bold]annotations[/]: {len(row['annotations'])}")
    for ann in row["annotations"]:
        console.print(
            f"  {ann['id']} {ann['status']} by {ann['annotation_user_id']}: {ann['data']}"
        )


@inputs_app.command("status")
def inputs_status(as_json: bool = JsonOpt) -> None:
    """Counts of the app's inputs: processed, to process, processing, errors."""
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


@datasets_app.command("create")
def datasets_create(
    dataset_id: str,
    description: str = typer.Option("", "--description", help="What the dataset is for."),
    as_json: bool = JsonOpt,
) -> None:
    """Create a dataset (fails if the id exists)."""
    try:
        check_id(dataset_id, "dataset id")
    except Exception as exc:
        fail(str(exc))
    with open_runtime() as rt:
        created = rt.catalog.create_dataset(
            rt.settings.user_id, rt.settings.app_id, dataset_id, description
        )
    if as_json:
        emit_json({"id": dataset_id, "created": created})
    if not created:
        fail(
            f"{StatusCode.DATABASE_DUPLICATE_KEY.value} DATABASE_DUPLICATE_KEY: "
            f"dataset {dataset_id!r} exists"
        )
    if not as_json:
        console.print(f"created dataset {dataset_id}")


@datasets_app.command("list")
def datasets_list(as_json: bool = JsonOpt) -> None:
    """Datasets of the app with their input counts."""
    with open_runtime() as rt:
        rows = rt.catalog.list_datasets(rt.settings.user_id, rt.settings.app_id)
    if as_json:
        emit_json(rows)
        return
    table(
        "datasets",
        ["id", "inputs", "description", "created"],
        [(r["id"], r["inputs_count"], r["description"], r["created_at"]) for r in rows],
    )


@datasets_app.command("inputs")
def datasets_inputs(
    dataset_id: str,
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    after: str = typer.Option("", "--after", help="Start after this input id (next page)."),
    as_json: bool = JsonOpt,
) -> None:
    """The inputs of one dataset."""
    with open_runtime() as rt:
        s = rt.settings
        if rt.catalog.get_dataset(s.user_id, s.app_id, dataset_id) is None:
            fail(
                f"{StatusCode.CONN_DOES_NOT_EXIST.value} CONN_DOES_NOT_EXIST: "
                f"no dataset {dataset_id!r}"
            )
        rows = rt.catalog.list_inputs(
            s.user_id, s.app_id, after_id=after, limit=limit, dataset_id=dataset_id
        )
    if as_json:
        emit_json(rows)
        return
    table(
        f"inputs of dataset {dataset_id}",
        ["id", "type", "status", "concepts"],
        [
            (
                r["id"],
                r["media_type"],
                _status(r["status_code"]),
                ",".join(c["id"] for c in r["concepts"]),
            )
            for r in rows
        ],
    )
