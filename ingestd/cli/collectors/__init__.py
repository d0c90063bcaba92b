"""`ingestd collectors ...`: capture the inputs production models predict on into this app."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import typer

from ingestd.cli.collectors.documents import (
    Refs,
    file_doc,
    flags_doc,
    missing,
    nest,
    show,
    view,
)
from ingestd.cli.option_groups import Page, grouped, page_options
from ingestd.cli.options import JsonOpt, coded, console, emit_json, fail, found, page_table
from ingestd.cli.state import app_page, get_or_fail, open_runtime
from pipeline.collect.collectors import CollectorStatus, check_references, parse_collector, patched
from pipeline.errors import InputError
from pipeline.patching import PatchAction, merge
from pipeline.status import StatusCode

app = typer.Typer(
    help="Collectors of the app (--app, the destination). When the caller (blank: anyone) "
    "predicts with the source model, the input is captured here: sampled by the pre-queue "
    "workflow on the model's output, enriched by the post-queue workflow on the input. "
    "Needs a key of this app with the PostInputs scope (`ingestd keys create -s PostInputs`).",
    no_args_is_help=True,
)

File = typer.Option(None, "--file", "-f", help="Collector or patch document (JSON/YAML; - stdin).")


@dataclass
class Fields:
    """The collector fields create and update take as options (None: not given)."""

    description: str | None = typer.Option(None, "--description", help="What the collector is for.")
    pre_queue: str | None = typer.Option(
        None, "--pre-queue-workflow", help="Workflow run on the model's output."
    )
    post_queue: str | None = typer.Option(
        None, "--post-queue-workflow", help="Workflow run on the input."
    )
    sample: float | None = typer.Option(
        None, "--random-sample", help="pre_queue_random_sample: fraction in (0, 1]."
    )
    model_user: str | None = typer.Option(
        None, "--model-user", help="Source model's user (default: --user)."
    )
    model_app: str | None = typer.Option(
        None, "--model-app", help="Source model's app (default: --app)."
    )
    model: str | None = typer.Option(None, "--model", help="Source model id.")
    version: str | None = typer.Option(
        None, "--model-version", help="Source model version (blank: any)."
    )
    key: str | None = typer.Option(
        None, "--key", help="post_inputs_key_id: key with the PostInputs scope."
    )
    caller: str | None = typer.Option(
        None, "--caller", help="caller_user_id (blank: every caller)."
    )
    outputs: bool | None = typer.Option(
        None,
        "--collect-outputs/--no-collect-outputs",
        help="Store the model's outputs as annotations.",
    )
    dataset: str | None = typer.Option(
        None, "--dataset", help="Dataset the captured inputs are added to."
    )

    def doc(self) -> dict[str, Any]:
        return flags_doc(**asdict(self))


@app.command("create")
@grouped(fields=Fields)
def create(
    collector_id: str = typer.Argument(..., help="Id of the new collector."),
    file: str | None = File,
    *,  # the group has no default: @grouped fills it
    fields: Fields,
    inactive: bool = typer.Option(False, "--inactive", help="Create it switched off."),
    as_json: bool = JsonOpt,
) -> None:
    """Create a collector (fields from --file and/or the options; options win)."""
    flags = fields.doc()
    with open_runtime() as rt:
        s = rt.settings
        defaults = nest({"model_user_id": s.user_id, "model_app_id": s.app_id})
        doc = merge(flags, merge(file_doc(file), defaults))
        doc["id"] = collector_id
        if inactive:
            doc["status"] = CollectorStatus.INACTIVE.value
        try:
            collector = parse_collector(doc)
            check_references(collector, s.user_id, s.app_id, Refs(rt.catalog))
        except InputError as exc:
            fail(str(exc))
            return
        created = rt.catalog.collectors.create(s.user_id, s.app_id, collector)
    if created is None:
        exists = f"collector {collector_id!r} exists; change it with update"
        fail(coded(StatusCode.DATABASE_DUPLICATE_KEY, exists))
        return
    if as_json:
        emit_json(view(created, s.user_id, s.app_id))
    else:
        show(created, "created")


@app.command("list")
@grouped(paging=page_options("Collectors", 1000))
def list_collectors(
    paging: Page,
    as_json: bool = JsonOpt,
) -> None:
    """The app's collectors in id order, a page at a time."""
    page, s = app_page(lambda c: c.collectors.page, paging)
    if as_json:
        emit_json([view(c, s.user_id, s.app_id) for c in page])
        return
    page_table(
        f"collectors of {s.user_id}/{s.app_id}",
        ["id", "status", "source model", "caller", "pre-queue", "post-queue", "sample"],
        [
            (
                c.id,
                c.status.value,
                f"{c.source.model_user_id}/{c.source.model_app_id}/{c.source.model_id}"
                f"@{c.source.model_version_id or '*'}",
                c.source.caller_user_id or "*",
                c.pre_queue_workflow_id,
                c.post_queue_workflow_id,
                c.pre_queue_random_sample,
            )
            for c in page
        ],
        paging.limit,
    )


@app.command("get")
def get(collector_id: str, as_json: bool = JsonOpt) -> None:
    """One collector."""
    collector, s = get_or_fail(lambda c: c.collectors, collector_id, missing(collector_id))
    if as_json:
        emit_json(view(collector, s.user_id, s.app_id))
    else:
        show(collector, "")


@app.command("update")
@grouped(given=Fields)
def update(
    collector_id: str = typer.Argument(..., help="Id of the collector to change."),
    action: PatchAction = typer.Option(
        PatchAction.MERGE,
        "--action",
        help="merge: change the given fields; remove: drop the --field(s); overwrite: "
        "replace the whole collector with the given one.",
    ),
    fields: list[str] = typer.Option(
        [], "--field", help="With --action remove: a field to remove (e.g. post_queue_workflow_id)."
    ),
    file: str | None = File,
    *,  # the group has no default: @grouped fills it
    given: Fields,
    as_json: bool = JsonOpt,
) -> None:
    """Patch a collector with merge, remove or overwrite (../shared/reference/patching.md)."""
    changes = merge(given.doc(), file_doc(file))
    if fields and action is not PatchAction.REMOVE:
        fail("--field names fields to remove: use it with --action remove")
    changes = merge(nest(dict.fromkeys(fields, True)), changes)
    if not changes:
        fail("nothing to change: give options, --field (with --action remove) or --file")
    with open_runtime() as rt:
        s = rt.settings
        collectors = rt.catalog.collectors
        stored = found(collectors.get(s.user_id, s.app_id, collector_id), missing(collector_id))
        try:
            result = patched(stored, action, changes)
            check_references(result, s.user_id, s.app_id, Refs(rt.catalog))
        except InputError as exc:
            fail(str(exc))
            return
        collectors.save(s.user_id, s.app_id, result)
    if as_json:
        emit_json(view(result, s.user_id, s.app_id))
    else:
        show(result, f"updated ({action.value})")


@app.command("delete")
def delete(
    collector_ids: list[str] = typer.Argument(None, help="Ids to delete."),
    delete_all: bool = typer.Option(False, "--all", help="Delete every collector of the app."),
    as_json: bool = JsonOpt,
) -> None:
    """Delete collectors by id, or all of the app's with --all."""
    ids = list(collector_ids or [])
    if bool(ids) == delete_all:
        fail("give collector ids or --all (not both)")
    with open_runtime() as rt:
        s = rt.settings
        deleted = rt.catalog.collectors.delete(s.user_id, s.app_id, None if delete_all else ids)
    absent = [i for i in ids if i not in deleted]
    if as_json:
        emit_json({"deleted": deleted, "missing": absent})
    else:
        console.print(f"deleted {len(deleted)} collector(s): {', '.join(deleted) or '-'}")
        for i in absent:
            console.print(missing(i))
    if absent:
        raise typer.Exit(1)


def _set_status(ids: list[str], status: CollectorStatus, as_json: bool) -> None:
    with open_runtime() as rt:
        s = rt.settings
        found = rt.catalog.collectors.set_status(s.user_id, s.app_id, ids, status)
    absent = [i for i in ids if i not in found]
    if as_json:
        emit_json({"status": status.value, "changed": sorted(found), "missing": absent})
    else:
        console.print(f"{status.value}: {', '.join(sorted(found)) or '-'}")
        for i in absent:
            console.print(missing(i))
    if absent:
        raise typer.Exit(1)


@app.command("activate")
def activate(collector_ids: list[str], as_json: bool = JsonOpt) -> None:
    """Switch collectors on: they capture again (within a few seconds on running workers)."""
    _set_status(collector_ids, CollectorStatus.ACTIVE, as_json)


@app.command("deactivate")
def deactivate(collector_ids: list[str], as_json: bool = JsonOpt) -> None:
    """Switch collectors off: their events are reported as 52002 COLLECTOR_INACTIVE."""
    _set_status(collector_ids, CollectorStatus.INACTIVE, as_json)
