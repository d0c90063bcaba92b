"""`ingestd inputs patch|delete`: change or remove stored inputs, by ids, a whole dataset
or a search (`--where`).

Each input gets its own status; the command exits non-zero when any failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from ingestd.cli.options import (
    JsonOpt,
    coded,
    fail,
    outcomes_report,
    parse_json_object,
    status_text,
)
from ingestd.cli.search_options import WHERE_HELP, where_query
from ingestd.cli.state import open_runtime
from pipeline.errors import InputError
from pipeline.ingest.manage import InputPatch, ManageOutcome, overall
from pipeline.patching import PatchAction
from pipeline.status import StatusCode

IdsArg = typer.Argument(None, help="Input ids (or use --dataset or --where).", show_default=False)
DatasetOpt = typer.Option(
    None, "--dataset", "-d", help="Every input of this dataset instead of ids."
)
WhereOpt = typer.Option(None, "--where", help=f"Every input this search matches. {WHERE_HELP}")


def inputs_patch(
    ids: list[str] | None = IdsArg,
    dataset: str | None = DatasetOpt,
    where: str | None = WhereOpt,
    action: PatchAction = typer.Option(
        PatchAction.MERGE, "--action", help="merge, remove or overwrite (see patching.md)."
    ),
    metadata: str | None = typer.Option(
        None,
        "--metadata",
        help='JSON object, e.g. \'{"split": "train"}\'; with remove, '
        "'{\"split\": true}' removes the key.",
    ),
    concepts: str | None = typer.Option(
        None, "--concepts", help="id:value pairs, e.g. cat:1,dog:0 (value 1 when left out)."
    ),
    geo: str | None = typer.Option(
        None, "--geo", help="LAT,LON; with remove, any value removes the geo point."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Patch the concepts, metadata and geo of inputs with merge, remove or overwrite."""
    data: dict[str, Any] = {}
    meta = parse_json_object(metadata, "--metadata")
    if meta is not None:
        data["metadata"] = meta
    if concepts is not None:
        data["concepts"] = _concepts(concepts, action)
    if geo is not None:
        data["geo"] = True if action is PatchAction.REMOVE else _geo(geo)
    try:
        change = InputPatch(action, data)
    except InputError as exc:
        fail(coded(exc.code, exc.message))
        return
    with open_runtime() as rt:
        s = rt.settings
        outcomes = [
            outcome
            for targets in target_pages(rt, ids, dataset, where)
            for outcome in rt.catalog.inputs.patch_inputs(
                s.user_id, s.app_id, targets, change, s.limits
            )
        ]
    report(outcomes, "patched", as_json)


def inputs_delete(
    ids: list[str] | None = IdsArg,
    dataset: str | None = DatasetOpt,
    where: str | None = WhereOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Delete inputs with their annotations and dataset memberships; ready versions keep
    them. Their blobs go with `ingestd gc` once nothing references them."""
    with open_runtime() as rt:
        s = rt.settings
        outcomes = [
            outcome
            for targets in target_pages(rt, ids, dataset, where)
            for outcome in rt.catalog.inputs.delete_inputs(s.user_id, s.app_id, targets)
        ]
    report(outcomes, "deleted", as_json)


def target_pages(
    rt: Any, ids: list[str] | None, dataset: str | None, where: str | None
) -> Iterator[list[str]]:
    """The ids a bulk change applies to, a page at a time: the ids given, a dataset's
    inputs, or what a search matches (paged by id, so changing a page never repeats one)."""
    if sum((bool(ids), dataset is not None, where is not None)) != 1:
        fail("give input ids, --dataset or --where (one of the three)")
    query = where_query(where)
    s = rt.settings
    if ids:
        yield list(ids)
    elif query is not None:
        yield from rt.catalog.inputs.matching_ids(s.user_id, s.app_id, query)
    else:
        found = rt.catalog.inputs.dataset_input_ids(s.user_id, s.app_id, dataset)
        if found is None:
            fail(coded(StatusCode.CONN_DOES_NOT_EXIST, f"no dataset {dataset!r}"))
        yield list(found)


def _concepts(text: str, action: PatchAction) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        cid, sep, raw = part.rpartition(":") if ":" in part else (part, "", "")
        if not cid:
            fail(coded(StatusCode.INPUT_INVALID_ARGUMENT, f"--concepts: {part!r} has no id"))
        if action is PatchAction.REMOVE:
            out.append({"id": cid})  # remove matches by id; a value means nothing here
            continue
        try:
            value = float(raw) if sep else 1.0
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0:
            fail(
                coded(
                    StatusCode.INPUT_INVALID_ARGUMENT,
                    f"--concepts: the value of {cid!r} must be a number from 0 to 1, got {raw!r}",
                )
            )
        out.append({"id": cid, "value": value})
    if not out:
        fail(coded(StatusCode.INPUT_INVALID_ARGUMENT, "--concepts names no concept (cat:1,dog:0)"))
    return out


def _geo(text: str) -> dict[str, Any]:
    parts = text.split(",")
    try:
        lat, lon = (float(p) for p in parts)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError
    except ValueError:
        fail(
            coded(
                StatusCode.INPUT_INVALID_ARGUMENT,
                f"--geo must be LAT,LON (latitude -90..90, longitude -180..180), got {text!r}",
            )
        )
    return {"geo_point": {"latitude": lat, "longitude": lon}}


def report(outcomes: list[ManageOutcome], verb: str, as_json: bool) -> None:
    outcomes_report(
        outcomes,
        overall(outcomes),
        "input",
        verb,
        ["id", "action", "status", "message"],
        [(o.input_id, o.action, status_text(o.code), o.message) for o in outcomes],
        as_json,
    )
