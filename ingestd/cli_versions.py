"""`ingestd datasets versions ...` and `ingestd datasets filter ...`: dataset versions.

A version freezes a dataset's inputs and the annotations its filter keeps (manifest,
metrics, exports). `create` publishes a SnapshotRequest and waits for the snapshot stage.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connectors.catalog.versions import VersionStore
from ingestd.cli_filters import (
    FilterArgs,
    FilterJsonOpt,
    GroundTruthOpt,
    IgnoreEmptyOpt,
    LabelerOpt,
    ModelOpt,
    PredictionsOpt,
    StatusOpt,
)
from ingestd.cli_versions_common import (
    JsonOpt,
    load_version,
    parse_json_object,
    show_version,
    status_text,
)
from ingestd.cli_versions_edit import delete_version, update_version
from ingestd.output import console, emit_json, fail, table
from ingestd.runtime import Runtime
from ingestd.state import open_runtime
from pipeline.events import DeadLetter, SnapshotRequest
from pipeline.ids import check_id
from pipeline.models import RequestOrigin
from pipeline.snapshot import IN_PROGRESS, PENDING, READY, request_fingerprint
from pipeline.snapshot_export import normalize_formats
from pipeline.snapshot_filter import FilterConfigError
from pipeline.snapshot_ports import VersionRow
from pipeline.status import StatusCode

versions_app = typer.Typer(
    help="Dataset versions: immutable snapshots of a dataset's inputs and selected annotations.",
    no_args_is_help=True,
)
filter_app = typer.Typer(
    help="A dataset's default annotation filter (used by versions that set none).",
    no_args_is_help=True,
)
_BUSY = (PENDING, IN_PROGRESS)


@versions_app.command("create")
def create(
    dataset_id: str = typer.Argument(..., help="Dataset to freeze."),
    version_id: str | None = typer.Option(
        None, "--id", help="Version id (default: a new one). Repeat a create to resume it."
    ),
    description: str = typer.Option("", "--description", help="What this version is for."),
    metadata: str | None = typer.Option(None, "--metadata", help="JSON object kept with it."),
    origin: str = typer.Option(
        "MANUAL",
        "--request-origin",
        help="Why it was made: MANUAL, TRAINING, EVAL_GROUND_TRUTH or EVAL_PREDICTIONS.",
    ),
    export: list[str] | None = typer.Option(
        None, "--export", help="Also build this export: coco or json (repeatable)."
    ),
    statuses: list[str] | None = StatusOpt,
    labelers: list[str] | None = LabelerOpt,
    model_versions: list[str] | None = ModelOpt,
    ground_truth_only: bool = GroundTruthOpt,
    predictions_only: bool = PredictionsOpt,
    filter_json: str | None = FilterJsonOpt,
    ignore_empty: bool | None = IgnoreEmptyOpt,
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until it is ready or failed."),
    timeout: float = typer.Option(
        3600, "--timeout", min=1, help="On Kafka: seconds to wait for the workers before giving up."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Snapshot DATASET into a new version; filter options override the dataset's default."""
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
        check_id(dataset_id, "dataset id")
        version_id = check_id(version_id or uuid.uuid4().hex, "dataset version id")
        annotation_filter, ignore = args.build()
        formats = normalize_formats(export or [])
        request_origin: RequestOrigin = _origin(origin)
    except (FilterConfigError, ValueError) as exc:
        fail(str(exc))
        raise
    meta = parse_json_object(metadata, "--metadata") or {}
    with open_runtime() as rt:
        s = rt.settings
        request = SnapshotRequest(
            user_id=s.user_id,
            app_id=s.app_id,
            dataset_id=dataset_id,
            version_id=version_id,
            description=description,
            annotation_filter=annotation_filter,
            ignore_empty_inputs=ignore,
            export_formats=formats,
            request_origin=request_origin,
            metadata=meta,
        )
        store = VersionStore(rt.catalog)
        _precheck(rt, store, request)
        rt.publish(request)
        rt.flush()
        if not wait:
            if as_json:
                emit_json({"id": version_id, "request_id": request.request_id, "queued": True})
            else:
                console.print(f"queued version {version_id} of dataset {dataset_id}")
            return
        row, dead = _wait(rt, store, request, as_json, timeout)
    _report(row, dead, as_json)


def _origin(value: str) -> RequestOrigin:
    allowed: tuple[RequestOrigin, ...] = (
        "MANUAL",
        "TRAINING",
        "EVAL_GROUND_TRUTH",
        "EVAL_PREDICTIONS",
    )
    for name in allowed:
        if value.upper() == name:
            return name
    raise ValueError(f"--request-origin must be one of {', '.join(allowed)}, not {value!r}")


def _precheck(rt: Runtime, store: VersionStore, request: SnapshotRequest) -> None:
    """Refuse at once what the stage would refuse: an unknown dataset, a taken version id."""
    s = rt.settings
    if rt.catalog.get_dataset(s.user_id, s.app_id, request.dataset_id) is None:
        fail(
            f"{int(StatusCode.CONN_DOES_NOT_EXIST)} CONN_DOES_NOT_EXIST: no dataset "
            f"{request.dataset_id!r} in {s.user_id}/{s.app_id}; create it with "
            f"`ingestd datasets create {request.dataset_id}`"
        )
    prior = store.get_version(s.user_id, s.app_id, request.version_id)
    if prior is not None and prior.request_fingerprint != request_fingerprint(request):
        fail(
            f"{int(StatusCode.DATASET_VERSION_CONFLICT)} DATASET_VERSION_CONFLICT: version "
            f"{request.version_id!r} exists (dataset {prior.dataset_id!r}, "
            f"{status_text(prior.status_code)}) with other settings; choose another --id"
        )


def _wait(
    rt: Runtime, store: VersionStore, request: SnapshotRequest, quiet: bool, timeout: float
) -> tuple[VersionRow | None, DeadLetter | None]:
    ids = (request.user_id, request.app_id, request.version_id)
    idle = threading.Event()
    if not rt.kafka_mode:
        # On the embedded bus the stage (and its retries) run in this process: wait for quiet.
        bus = rt.bus

        def drain() -> None:
            bus.join()
            idle.set()

        threading.Thread(target=drain, daemon=True).start()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet,
    ) as bar:
        started = time.monotonic()
        task = bar.add_task(f"snapshot {request.version_id}", total=None)
        while True:
            done = idle.wait(0.3)
            row = store.get_version(*ids)
            if row is not None and row.total:
                bar.update(task, total=row.total, completed=row.progress)
            if done:
                break
            if rt.kafka_mode:
                if time.monotonic() - started > timeout:
                    break
                dead = _dead_letter(rt, request)
                if dead is not None or (row is not None and row.status_code not in _BUSY):
                    break
                time.sleep(0.7)
    return store.get_version(*ids), _dead_letter(rt, request)


def _dead_letter(rt: Runtime, request: SnapshotRequest) -> DeadLetter | None:
    settled = rt.catalog.settled(request.user_id, request.app_id, [request.request_id])
    found = settled.get(request.request_id)
    return found if isinstance(found, DeadLetter) else None


def _report(row: VersionRow | None, dead: DeadLetter | None, as_json: bool) -> None:
    if row is None and dead is None:
        fail("no version was recorded yet: is a worker running? (ingestd worker)")
    failed = dead is not None or row is None or row.status_code != READY
    if as_json:
        out: dict[str, Any] = row.to_dict() if row else {}
        if dead is not None:
            out["dead_letter"] = dead.model_dump(mode="json")
        emit_json(out)
    elif row is not None:
        show_version(row)
    if dead is not None:
        fail(f"{int(dead.code)} {dead.code.name}: {dead.message}")
    if failed and row is not None:
        hint = (
            "still running; see `ingestd datasets versions get`" if row.status_code in _BUSY else ""
        )
        fail(f"{status_text(row.status_code)}: {row.status_message or hint or 'not ready'}")


@versions_app.command("list")
def list_versions(dataset_id: str, as_json: bool = JsonOpt) -> None:
    """The versions of a dataset, oldest first."""
    with open_runtime() as rt:
        rows = VersionStore(rt.catalog).list_versions(
            rt.settings.user_id, rt.settings.app_id, dataset_id
        )
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    table(
        f"versions of dataset {dataset_id}",
        ["id", "status", "created", "inputs", "annotations", "origin", "description"],
        [
            (
                r.id,
                status_text(r.status_code),
                r.created_at.strftime("%Y-%m-%d %H:%M:%S") if r.created_at else "",
                (r.metrics or {}).get("inputs_count", ""),
                (r.metrics or {}).get("annotations_count", ""),
                r.request_origin,
                r.description,
            )
            for r in rows
        ],
    )


@versions_app.command("get")
def get_version(version_id: str, as_json: bool = JsonOpt) -> None:
    """One version: status, filter, metrics (per input type and per concept), exports."""
    with open_runtime() as rt:
        row = load_version(rt, version_id)
    if as_json:
        emit_json(row.to_dict())
        return
    show_version(row)
    m = row.metrics or {}
    if m:
        table(
            "metrics",
            ["metric", "value"],
            [(k, val) for k, val in m.items() if not isinstance(val, dict)],
        )
        table("inputs by type", ["type", "inputs"], sorted(m.get("input_types", {}).items()))
        top = sorted(m.get("concepts", {}).items(), key=lambda kv: (-kv[1], kv[0]))[:20]
        table("positive tags by concept (top 20)", ["concept", "tags"], top)
    if row.status_code != READY:
        raise typer.Exit(1)


versions_app.command("update")(update_version)
versions_app.command("delete")(delete_version)
