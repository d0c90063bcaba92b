"""`ingestd datasets versions update|delete` and `ingestd datasets filter get|set|clear`."""

from __future__ import annotations

from typing import Any

import typer

from ingestd.cli_filters import (
    FilterArgs,
    FilterJsonOpt,
    GroundTruthOpt,
    IgnoreEmptyOpt,
    LabelerOpt,
    ModelOpt,
    PredictionsOpt,
    StatusOpt,
    describe_filter,
)
from ingestd.cli_versions_common import (
    JsonOpt,
    load_version,
    parse_json_object,
    show_version,
    status_text,
)
from ingestd.output import console, emit_json, fail
from ingestd.state import open_runtime
from pipeline.events import AnnotationFilter
from pipeline.snapshot.filter import FilterConfig, FilterConfigError
from pipeline.snapshot.manifest import version_prefix
from pipeline.snapshot.stage import IN_PROGRESS, PENDING
from pipeline.status import StatusCode

filter_app = typer.Typer(
    help="A dataset's default annotation filter, used by versions that set none.",
    no_args_is_help=True,
)


def update_version(
    version_id: str,
    description: str | None = typer.Option(None, "--description", help="New description."),
    metadata: str | None = typer.Option(
        None, "--metadata", help="JSON object merged into the metadata (nested objects merge)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite-metadata", help="Replace the metadata instead of merging."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Change a version's description or metadata; its content never changes."""
    patch = parse_json_object(metadata, "--metadata")
    if description is None and patch is None:
        fail("nothing to change: give --description and/or --metadata")
    with open_runtime() as rt:
        s = rt.settings
        row = load_version(rt, version_id)
        new_meta = None
        if patch is not None:
            new_meta = patch if overwrite else merge_metadata(row.metadata, patch)
        row = (
            rt.catalog.versions.update_version(
                s.user_id, s.app_id, version_id, description=description, metadata=new_meta
            )
            or row
        )
    if as_json:
        emit_json(row.to_dict())
    else:
        show_version(row)


def merge_metadata(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The reference's merge: nested objects merge, null changes nothing, the rest replaces."""
    out = dict(old)
    for key, value in patch.items():
        if value is None:
            continue
        if isinstance(value, dict) and value and isinstance(out.get(key), dict):
            out[key] = merge_metadata(out[key], value)
        else:
            out[key] = value
    return out


def delete_version(
    version_id: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    force: bool = typer.Option(
        False, "--force", help="Delete even while it is pending or in progress."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Delete a version: its catalog row, manifest and exports (cannot be undone)."""
    with open_runtime() as rt:
        s = rt.settings
        row = load_version(rt, version_id)
        if row.status_code in (PENDING, IN_PROGRESS) and not force:
            fail(
                f"{int(StatusCode.DATASET_VERSION_CONFLICT)} DATASET_VERSION_CONFLICT: version "
                f"{version_id!r} is {status_text(row.status_code)}; wait for it, or --force"
            )
        if not yes and not as_json:
            typer.confirm(f"delete version {version_id} of dataset {row.dataset_id}?", abort=True)
        rt.catalog.versions.delete_version(s.user_id, s.app_id, version_id)
        # Everything under the version's prefix, orphans of interrupted runs included.
        prefix = version_prefix(s.user_id, s.app_id, row.dataset_id, version_id) + "/"
        keys = list(rt.blobs.keys(prefix))
        for key in keys:
            rt.blobs.delete(key)
    if as_json:
        emit_json({"id": version_id, "deleted": True, "blobs_deleted": len(keys)})
    else:
        console.print(f"deleted version {version_id} ({len(keys)} blobs)")


@filter_app.command("get")
def filter_get(dataset_id: str, as_json: bool = JsonOpt) -> None:
    """Show the dataset's default filter."""
    with open_runtime() as rt:
        s = rt.settings
        exists, raw = rt.catalog.versions.dataset_default_filter(
            s.user_id, s.app_id, dataset_id
        )
    if not exists:
        _no_dataset(dataset_id)
    if as_json:
        emit_json(raw)
    else:
        console.print(f"dataset {dataset_id}: {describe_filter(raw)}")


@filter_app.command("set")
def filter_set(
    dataset_id: str,
    statuses: list[str] | None = StatusOpt,
    labelers: list[str] | None = LabelerOpt,
    model_versions: list[str] | None = ModelOpt,
    ground_truth_only: bool = GroundTruthOpt,
    predictions_only: bool = PredictionsOpt,
    filter_json: str | None = FilterJsonOpt,
    ignore_empty: bool | None = IgnoreEmptyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Set the dataset's default filter (replaces the previous one)."""
    args = FilterArgs(
        statuses,
        labelers,
        model_versions,
        ground_truth_only,
        predictions_only,
        filter_json,
        ignore_empty,
    )
    try:
        chosen, ignore = args.build()
        config = FilterConfig(
            annotation_filter=chosen or AnnotationFilter(),
            ignore_empty_inputs=bool(ignore),
        )
    except FilterConfigError as exc:
        fail(str(exc))
        raise
    _store_filter(dataset_id, config.model_dump(mode="json"), as_json)


@filter_app.command("clear")
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
        f"{int(StatusCode.CONN_DOES_NOT_EXIST)} CONN_DOES_NOT_EXIST: no dataset {dataset_id!r}; "
        f"create it with `ingestd datasets create {dataset_id}`"
    )
