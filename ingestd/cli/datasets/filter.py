"""`ingestd datasets filter get|set|clear`: a dataset's default annotation filter."""

from __future__ import annotations

from typing import Any

import typer

from ingestd.cli.datasets.filter_options import FilterArgs, describe_filter
from ingestd.cli.option_groups import grouped
from ingestd.cli.options import JsonOpt, coded, console, emit_json, fail
from ingestd.cli.state import open_runtime
from pipeline.events import AnnotationFilter
from pipeline.snapshot.filter import FilterConfig, FilterConfigError
from pipeline.status import StatusCode

app = typer.Typer(
    help="A dataset's default annotation filter, used by versions that set none.",
    no_args_is_help=True,
)


@app.command("get")
def filter_get(dataset_id: str, as_json: bool = JsonOpt) -> None:
    """Show the dataset's default filter."""
    with open_runtime() as rt:
        s = rt.settings
        exists, raw = rt.catalog.versions.dataset_default_filter(s.user_id, s.app_id, dataset_id)
    if not exists:
        _no_dataset(dataset_id)
    if as_json:
        emit_json(raw)
    else:
        console.print(f"dataset {dataset_id}: {describe_filter(raw)}")


@app.command("set")
@grouped(filters=FilterArgs)
def filter_set(dataset_id: str, filters: FilterArgs, as_json: bool = JsonOpt) -> None:
    """Set the dataset's default filter (replaces the previous one)."""
    try:
        chosen, ignore = filters.build()
        config = FilterConfig(
            annotation_filter=chosen or AnnotationFilter(),
            ignore_empty_inputs=bool(ignore),
        )
    except FilterConfigError as exc:
        fail(str(exc))
        raise
    _store_filter(dataset_id, config.model_dump(mode="json"), as_json)


@app.command("clear")
def filter_clear(dataset_id: str, as_json: bool = JsonOpt) -> None:
    """Remove the dataset's default filter: versions then keep every annotation."""
    _store_filter(dataset_id, None, as_json)


def _store_filter(dataset_id: str, config: dict[str, Any] | None, as_json: bool) -> None:
    with open_runtime() as rt:
        s = rt.settings
        found = rt.catalog.versions.set_default_filter(s.user_id, s.app_id, dataset_id, config)
    if not found:
        _no_dataset(dataset_id)
    if as_json:
        emit_json({"dataset_id": dataset_id, "default_filter": config})
    else:
        console.print(f"dataset {dataset_id} default filter: {describe_filter(config)}")


def _no_dataset(dataset_id: str) -> None:
    fail(
        coded(
            StatusCode.CONN_DOES_NOT_EXIST,
            f"no dataset {dataset_id!r}; create it with `ingestd datasets create {dataset_id}`",
        )
    )
