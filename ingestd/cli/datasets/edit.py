"""`ingestd datasets update|delete|add-inputs|remove-inputs`: edit a dataset and its members.

Membership changes take input ids or a search (`--where`) and report per input id, like
`inputs patch|delete`; the command exits non-zero when any id failed.
"""

from __future__ import annotations

from typing import Any

import typer

from ingestd.cli.inputs_manage import WhereOpt, report, target_pages
from ingestd.cli.options import JsonOpt, coded, console, emit_json, fail
from ingestd.cli.search_options import load_where
from ingestd.cli.state import open_runtime
from pipeline.errors import InputError
from pipeline.ingest.datasets import DatasetUpdate
from pipeline.ingest.manage import ManageOutcome
from pipeline.patching import PatchAction
from pipeline.snapshot.filter import FilterConfigError, parse_filter_config
from pipeline.status import StatusCode

IdsArg = typer.Argument(None, help="Input ids (or use --where).", show_default=False)


def no_dataset(dataset_id: str) -> None:
    fail(
        coded(
            StatusCode.CONN_DOES_NOT_EXIST,
            f"no dataset {dataset_id!r} (`ingestd datasets list` shows the app's datasets)",
        )
    )


def datasets_update(
    dataset_id: str,
    description: str | None = typer.Option(None, "--description", help="New description."),
    metadata: str | None = typer.Option(None, "--metadata", help="JSON object to apply."),
    action: PatchAction = typer.Option(
        PatchAction.MERGE,
        "--action",
        help="How --metadata applies: merge (default), overwrite or remove (patching.md).",
    ),
    default_filter: str | None = typer.Option(
        None,
        "--default-filter",
        help="The default annotation filter as JSON or a file "
        '(`{"annotation_filter": {...}, "ignore_empty_inputs": false}`); "none" clears it.',
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Change a dataset's description, metadata or default annotation filter."""
    fields: dict[str, Any] = {"description": description, "action": action}
    if metadata is not None:
        fields["metadata"] = load_where(metadata, "--metadata")
    if default_filter is not None:
        fields["default_filter"] = _filter(default_filter)
    change = DatasetUpdate(**fields)
    if change.empty:
        fail(
            coded(
                StatusCode.METADATA_INVALID_PATCH_ARGUMENTS,
                "nothing to update: give --description, --metadata or --default-filter",
            )
        )
    with open_runtime() as rt:
        s = rt.settings
        try:
            row = rt.catalog.datasets.update(s.user_id, s.app_id, dataset_id, change, s.limits)
        except InputError as exc:
            fail(coded(exc.code, exc.message))
    if row is None:
        no_dataset(dataset_id)
        return
    shown = {k: row[k] for k in ("id", "description", "metadata", "default_filter")}
    if as_json:
        emit_json(shown)
    else:
        console.print(f"updated dataset {dataset_id}: {shown}")


def _filter(text: str) -> dict[str, Any] | None:
    if text.strip().lower() == "none":
        return None
    raw = load_where(text, "--default-filter")
    try:
        return parse_filter_config(raw, "--default-filter").model_dump(mode="json")
    except FilterConfigError as exc:
        fail(coded(StatusCode.CONN_BAD_REQUEST_FORMAT, str(exc)))


def datasets_delete(dataset_id: str, as_json: bool = JsonOpt) -> None:
    """Delete a dataset. Its inputs stay stored; its versions stay readable by version id."""
    with open_runtime() as rt:
        members = rt.catalog.datasets.delete(rt.settings.user_id, rt.settings.app_id, dataset_id)
    if members is None:
        no_dataset(dataset_id)
    if as_json:
        emit_json({"id": dataset_id, "deleted": True, "inputs_kept": members})
    else:
        console.print(f"deleted dataset {dataset_id}; its {members} input(s) stay stored")


def datasets_add_inputs(
    dataset_id: str,
    ids: list[str] | None = IdsArg,
    where: str | None = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add stored inputs to a dataset, by ids or by a search."""
    _members(dataset_id, ids, where, as_json, adding=True)


def datasets_remove_inputs(
    dataset_id: str,
    ids: list[str] | None = IdsArg,
    where: str | None = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Remove inputs from a dataset (they stay stored), by ids or by a search."""
    _members(dataset_id, ids, where, as_json, adding=False)


def _members(
    dataset_id: str, ids: list[str] | None, where: str | None, as_json: bool, *, adding: bool
) -> None:
    outcomes: list[ManageOutcome] = []
    with open_runtime() as rt:
        s = rt.settings
        change = rt.catalog.datasets.add_inputs if adding else rt.catalog.datasets.remove_inputs
        if rt.catalog.get_dataset(s.user_id, s.app_id, dataset_id) is None:
            no_dataset(dataset_id)
        for targets in target_pages(rt, ids, None, where):
            done = change(s.user_id, s.app_id, dataset_id, targets)
            if done is None:  # deleted meanwhile
                no_dataset(dataset_id)
                return
            outcomes += done
    report(outcomes, "added" if adding else "removed", as_json)
