"""`ingestd gc`: remove blobs that no input, ready version or dead letter references."""

from __future__ import annotations

import re
from datetime import timedelta

import typer

from connectors.gc import collect_garbage
from ingestd.cli.options import JsonOpt, coded, console, emit_json, fail, table
from ingestd.cli.state import open_runtime
from pipeline.status import StatusCode

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def gc(
    grace: str = typer.Option(
        "24h",
        "--grace",
        help="Keep unreferenced blobs younger than this (e.g. 30m, 24h, 2d): an import or a "
        "queued event may be about to reference them. Longer than any event waits in a queue.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would go; remove nothing."),
    as_json: bool = JsonOpt,
) -> None:
    """Remove blobs nothing references. Safe at any time, also while imports run."""
    found = _DURATION.fullmatch(grace.strip())
    if found is None:
        fail(coded(StatusCode.CONN_INVALID_REQUEST, f"--grace {grace!r}: use e.g. 30m, 24h, 2d"))
        return
    period = timedelta(seconds=float(found.group(1)) * _UNIT[found.group(2)])
    with open_runtime() as rt:
        report = collect_garbage(rt.catalog, rt.blobs, grace=period, dry_run=dry_run)
    if as_json:
        emit_json({"dry_run": dry_run, **report.to_dict()})
        return
    verb = "would remove" if dry_run else "removed"
    table(
        "ingestd gc",
        ["scanned", "referenced", "recent (kept)", verb],
        [(report.scanned, report.referenced, report.recent, len(report.removed))],
    )
    for key in report.removed[:50]:
        console.print(f"  {verb} {key}")
    if len(report.removed) > 50:
        console.print(f"  ... and {len(report.removed) - 50} more (--json lists all)")
    if report.media_deferred:
        console.print(f"[yellow]media not collected this run[/]: {report.media_deferred}")
