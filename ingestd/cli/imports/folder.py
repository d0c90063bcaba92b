"""`ingestd import folder`: every file under a folder."""

from __future__ import annotations

from pathlib import Path

import typer

from connectors.importers.folder import count_files, iter_folder_items
from ingestd.cli.imports.common import (
    ConflictOpt,
    DatasetOpt,
    JsonOpt,
    MetadataOpt,
    ReportOpt,
    RetryOpt,
    TimeoutOpt,
    common_args,
    run_import,
)
from pipeline.models import ConflictResolution


def import_folder(
    path: Path = typer.Argument(
        ..., help="Folder to import, recursively.", exists=True, file_okay=False
    ),
    labels: bool = typer.Option(
        False, "--labels", help="Use each file's folder name as a concept."
    ),
    dataset: list[str] | None = DatasetOpt,
    metadata: str | None = MetadataOpt,
    conflict: ConflictResolution = ConflictOpt,
    report: Path | None = ReportOpt,
    retry_failed: Path | None = RetryOpt,
    as_json: bool = JsonOpt,
    timeout: float | None = TimeoutOpt,
) -> None:
    """Import every file under PATH; the type of each comes from its content and extension."""
    meta, keys = common_args(metadata, retry_failed, dataset)
    total = len(keys) if keys is not None else count_files(path)
    items = iter_folder_items(path, labels=labels, metadata=meta, keys=keys)
    run_import(items, total, "folder", dataset or [], conflict, report, as_json, timeout)
