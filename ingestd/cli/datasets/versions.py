"""`ingestd datasets versions create|list|get|update|delete`: dataset versions.

A version freezes a dataset's inputs and the annotations its filter keeps (manifest,
metrics, exports). `create` publishes a SnapshotRequest and waits for the snapshot stage.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import typer

from connectors.catalog.versions import VersionCatalog
from ingestd.app.runtime import Runtime
from ingestd.cli.datasets.filter_options import FilterArgs
from ingestd.cli.datasets.version_view import load_version, show_version
from ingestd.cli.option_groups import grouped
from ingestd.cli.options import (
    JsonOpt,
    coded,
    console,
    emit_json,
    fail,
    parse_json_object,
    progress_bar,
    status_text,
    table,
)
from ingestd.cli.state import open_runtime
from pipeline.events import DeadLetter, SnapshotRequest
from pipeline.ids import check_id
from pipeline.models import RequestOrigin
from pipeline.snapshot.export import normalize_formats
from pipeline.snapshot.filter import FilterConfigError
from pipeline.snapshot.manifest import version_prefix
from pipeline.snapshot.ports import VersionRow
from pipeline.snapshot.stage import IN_PROGRESS, PENDING, READY, request_fingerprint
from pipeline.status import StatusCode

app = typer.Typer(
    help="Dataset versions: immutable snapshots of a dataset's inputs and selected annotations.",
    no_args_is_help=True,
)
_BUSY = (PENDING, IN_PROGRESS)


@app.command("create")
@grouped(filters=FilterArgs)
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
    *,  # the group has no default: @grouped fills it
    filters: FilterArgs,
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until it is ready or failed."),
    timeout: float = typer.Option(
        3600, "--timeout", min=1, help="On Kafka: seconds to wait for the workers before giving up."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Snapshot DATASET into a new version; filter options override the dataset's default."""
    try:
        check_id(dataset_id, "dataset id")
        version_id = check_id(version_id or uuid.uuid4().hex, "dataset version id")
        annotation_filter, ignore = filters.build()
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
        store = rt.catalog.versions
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


def _precheck(rt: Runtime, store: VersionCatalog, request: SnapshotRequest) -> None:
    """Refuse at once what the stage would refuse: an unknown dataset, a taken version id."""
    s = rt.settings
    if rt.catalog.get_dataset(s.user_id, s.app_id, request.dataset_id) is None:
        fail(
            coded(
                StatusCode.CONN_DOES_NOT_EXIST,
                f"no dataset {request.dataset_id!r} in {s.user_id}/{s.app_id}; create it with "
                f"`ingestd datasets create {request.dataset_id}`",
            )
        )
    prior = store.get_version(s.user_id, s.app_id, request.version_id)
    if prior is not None and prior.request_fingerprint != request_fingerprint(request):
        fail(
            coded(
                StatusCode.DATASET_VERSION_CONFLICT,
                f"version {request.version_id!r} exists (dataset {prior.dataset_id!r}, "
                f"{status_text(prior.status_code)}) with other settings; choose another --id",
            )
        )


def _wait(
    rt: Runtime, store: VersionCatalog, request: SnapshotRequest, quiet: bool, timeout: float
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
    with progress_bar(disable=quiet) as bar:
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


@app.command("list")
def list_versions(dataset_id: str, as_json: bool = JsonOpt) -> None:
    """The versions of a dataset, oldest first."""
    with open_runtime() as rt:
        rows = rt.catalog.versions.list_versions(
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


@app.command("get")
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


@app.command("update")
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


@app.command("delete")
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
                coded(
                    StatusCode.DATASET_VERSION_CONFLICT,
                    f"version {version_id!r} is {status_text(row.status_code)}; "
                    "wait for it, or --force",
                )
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
