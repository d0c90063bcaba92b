"""`ingestd datasets create|list|inputs`, and the `versions` and `filter` groups below it."""

from __future__ import annotations

import typer

from ingestd.cli.datasets import edit, filter, versions
from ingestd.cli.options import JsonOpt, coded, console, emit_json, fail, status_text, table
from ingestd.cli.state import open_runtime
from pipeline.ids import check_id
from pipeline.status import StatusCode

app = typer.Typer(
    help="Datasets: create, list, update, delete, their inputs, default filter and versions.",
    no_args_is_help=True,
)
app.add_typer(versions.app, name="versions")
app.add_typer(filter.app, name="filter")


@app.command("create")
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
        fail(coded(StatusCode.DATABASE_DUPLICATE_KEY, f"dataset {dataset_id!r} exists"))
    if not as_json:
        console.print(f"created dataset {dataset_id}")


@app.command("list")
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


@app.command("inputs")
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
            fail(coded(StatusCode.CONN_DOES_NOT_EXIST, f"no dataset {dataset_id!r}"))
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
                status_text(r["status_code"]),
                ",".join(c["id"] for c in r["concepts"]),
            )
            for r in rows
        ],
    )


app.command("update")(edit.datasets_update)
app.command("delete")(edit.datasets_delete)
app.command("add-inputs")(edit.datasets_add_inputs)
app.command("remove-inputs")(edit.datasets_remove_inputs)
