"""`ingestd annotations add|list|patch|delete`: annotations as records of their own.

Input is the platform's annotation JSON (a file, or `-` for stdin) or convenience flags.
Each annotation gets its own status; a command exits non-zero when any failed.
"""

from __future__ import annotations

from typing import Any

import typer

from ingestd.cli.annotation_shapes import (
    ShapeFlags,
    annotation_fields,
    read_annotations,
    with_input,
)
from ingestd.cli.option_groups import grouped
from ingestd.cli.options import (
    JsonOpt,
    coded,
    console,
    emit_json,
    fail,
    outcomes_report,
    status_text,
    table,
)
from ingestd.cli.state import open_runtime
from pipeline.annotation_changes import AnnotationOutcome, overall, prepare_annotations
from pipeline.patching import PatchAction
from pipeline.status import StatusCode

app = typer.Typer(help="Add, list, patch and delete annotations (every shape of annotations.md).")

FileOpt = typer.Option(
    None,
    "--file",
    "-f",
    help="JSON (or JSON lines) of annotations in the platform's shape; - reads stdin.",
)
StatusOpt = typer.Option(None, "--status", help="e.g. ANNOTATION_PENDING.")
TaskOpt = typer.Option(None, "--task-id", help="The labeling task the annotation belongs to.")
InfoOpt = typer.Option(None, "--info", help="annotation_info as a JSON object.")


@app.command("add")
@grouped(shapes=ShapeFlags)
def add(
    input_id: str | None = typer.Argument(
        None, help="The input (for flags, or file items without input_id)."
    ),
    file: str | None = FileOpt,
    *,  # the group has no default: @grouped fills it
    shapes: ShapeFlags,
    ann_id: str | None = typer.Option(
        None, "--id", help="Its id (default: from input and content)."
    ),
    annotation_user: str | None = typer.Option(None, "--user-id", help="Written as by this user."),
    status: str | None = StatusOpt,
    task_id: str | None = TaskOpt,
    info: str | None = InfoOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add annotations; the same annotation added again is `unchanged` (nothing written)."""
    fields = annotation_fields(ann_id, annotation_user, status, task_id, info)
    flagged = shapes.annotation(fields)
    if file is not None:
        items = with_input(read_annotations(file), input_id)
        if flagged:
            fail("give annotations in --file or as flags, not both")
    elif "data" not in flagged:
        fail(coded(StatusCode.ANNOTATION_INVALID_ARGUMENT,
                   "nothing to add: give --file, or INPUT_ID with --concept, --box, --polygon, "
                   "--point, --mask or --frame"))  # fmt: skip
    elif input_id is None:
        fail("give the INPUT_ID the annotation is on")
    else:
        items = [(input_id, flagged)]
    with open_runtime() as rt:
        s = rt.settings
        prepared = prepare_annotations(items, user_id=s.user_id, app_id=s.app_id)
        outcomes = rt.catalog.annotations.add(s.user_id, s.app_id, prepared)
    _report(outcomes, "added", as_json)


@app.command("list")
def list_annotations(
    input_ids: list[str] = typer.Option([], "--input", "-i", help="Of this input (repeatable)."),
    annotation_user: str | None = typer.Option(None, "--user-id", help="Written by this user."),
    status: str | None = StatusOpt,
    task_id: str | None = TaskOpt,
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    after: str = typer.Option("", "--after", help="The cursor a previous page returned."),
    as_json: bool = JsonOpt,
) -> None:
    """List annotations in id order; --json returns `next_cursor` for --after."""
    with open_runtime() as rt:
        s = rt.settings
        page = rt.catalog.annotations.list(s.user_id, s.app_id, input_ids=input_ids,
                                           annotation_user_id=annotation_user, status=status,
                                           task_id=task_id, limit=limit, after=after)  # fmt: skip
    if as_json:
        emit_json({"annotations": page.annotations, "next_cursor": page.next_cursor})
        return
    table(
        f"{len(page.annotations)} annotation(s)",
        ["id", "input", "user", "status", "task", "shape"],
        [
            (a["id"], a["input_id"], a["user_id"], a["status"], a.get("task_id"), _shape(a["data"]))
            for a in page.annotations
        ],
    )
    if page.next_cursor:
        console.print(f"more: --after {page.next_cursor}")


@app.command("patch")
@grouped(shapes=ShapeFlags)
def patch(
    ann_id: str | None = typer.Argument(None, help="The annotation to patch with flags."),
    file: str | None = FileOpt,
    action: PatchAction = typer.Option(
        PatchAction.MERGE, "--action", help="merge, remove or overwrite (patching.md)."
    ),
    *,  # the group has no default: @grouped fills it
    shapes: ShapeFlags,
    status: str | None = StatusOpt,
    task_id: str | None = TaskOpt,
    info: str | None = InfoOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Patch annotations (data, status, task_id, annotation_info) with merge, remove or
    overwrite; each change names the annotation's `id`."""
    remove = action is PatchAction.REMOVE
    fields = annotation_fields(None, None, status, task_id, info)
    flagged = shapes.annotation(fields, remove=remove)
    if file is not None:
        if flagged or ann_id:
            fail("give the changes in --file or as ID with flags, not both")
        changes = [c if isinstance(c, dict) else {"id": None} for c in read_annotations(file)]
    elif ann_id is None or not flagged:
        fail(coded(StatusCode.ANNOTATION_INVALID_ARGUMENT,
                   "nothing to patch: give --file, or ID with --concept, --box, ..., --status, "
                   "--task-id or --info"))  # fmt: skip
    else:
        changes = [{"id": ann_id, **flagged}]
    with open_runtime() as rt:
        s = rt.settings
        outcomes = rt.catalog.annotations.patch(s.user_id, s.app_id, changes, action)
    _report(outcomes, "patched", as_json)


@app.command("delete")
def delete(
    ids: list[str] = typer.Argument(None, help="Annotation ids (or use --input)."),
    input_ids: list[str] = typer.Option(
        [], "--input", "-i", help="Every annotation of this input."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Delete annotations by id, or all of an input's (its own concepts stay with it)."""
    if not ids and not input_ids:
        fail("give annotation ids or --input")
    with open_runtime() as rt:
        s = rt.settings
        outcomes = rt.catalog.annotations.delete(s.user_id, s.app_id, ids=ids or [],
                                                 input_ids=input_ids)  # fmt: skip
    _report(outcomes, "deleted", as_json)


def _shape(data: dict[str, Any]) -> str:
    kinds = [k for k in ("concepts", "regions", "frames", "text") if data.get(k)]
    for region in data.get("regions") or []:
        kinds.extend(k for k in (region.get("region_info") or {}) if k not in kinds)
    return ", ".join(kinds)


def _report(outcomes: list[AnnotationOutcome], verb: str, as_json: bool) -> None:
    outcomes_report(
        outcomes,
        overall(outcomes),
        "annotation",
        verb,
        ["id", "input", "action", "status", "message"],
        [
            (o.annotation_id, o.input_id, o.action.value, status_text(o.code), o.message)
            for o in outcomes
        ],
        as_json,
    )
