"""A dataset version for the commands: found by id (or a clear exit), shown to a person."""

from __future__ import annotations

import json

from ingestd.app.runtime import Runtime
from ingestd.cli.datasets.filter_options import describe_filter
from ingestd.cli.options import coded, console, found, status_text
from pipeline.snapshot.ports import VersionRow
from pipeline.snapshot.stage import READY
from pipeline.status import StatusCode


def load_version(rt: Runtime, version_id: str) -> VersionRow:
    """The version or a clear exit (11101) when there is none."""
    s = rt.settings
    row = rt.catalog.versions.get_version(s.user_id, s.app_id, version_id)
    missing = f"no dataset version {version_id!r} in {s.user_id}/{s.app_id}"
    return found(row, coded(StatusCode.CONN_DOES_NOT_EXIST, missing))


def show_version(row: VersionRow) -> None:
    m = row.metrics or {}
    console.print(
        f"[bold]version {row.id}[/] of dataset {row.dataset_id}: {status_text(row.status_code)}"
    )
    if row.status_message:
        console.print(f"  reason: {row.status_message}")
    console.print(f"  filter: {describe_filter(row.annotation_filter_config)}")
    console.print(f"  origin: {row.request_origin}; description: {row.description or '-'}")
    if row.metadata:
        console.print(f"  metadata: {json.dumps(row.metadata, sort_keys=True)}")
    if row.status_code == READY:
        console.print(
            f"  {m.get('inputs_count', 0)} inputs, {m.get('annotations_count', 0)} annotations; "
            f"content hash {row.content_hash}"
        )
        console.print(f"  manifest: {row.manifest_key} ({row.manifest_size} bytes)")
    for fmt, info in sorted(row.export_info.items()):
        status = info.get("status", {})
        console.print(f"  export {fmt}: {status.get('description')} {info.get('url', '')}")
