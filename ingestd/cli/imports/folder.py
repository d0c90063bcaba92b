"""`ingestd import folder`: every file under a folder."""

from __future__ import annotations

from pathlib import Path

import typer

from connectors.importers.folder import count_files, iter_folder_items
from ingestd.cli.imports.common import ImportArgs
from ingestd.cli.option_groups import grouped


@grouped(common=ImportArgs)
def import_folder(
    path: Path = typer.Argument(
        ..., help="Folder to import, recursively.", exists=True, file_okay=False
    ),
    labels: bool | None = typer.Option(
        None,
        "--labels/--no-labels",
        help="Use each file's folder name as a concept (default: no).",
        show_default=False,
    ),
    *,  # the group has no default: @grouped fills it
    common: ImportArgs,
) -> None:
    """Import every file under PATH; the type of each comes from its content and extension."""
    meta, keys = common.parsed("folder", path.resolve().as_posix(), labels=(labels, False))
    total = len(keys) if keys is not None else count_files(path)
    labelled = common.option("labels")
    common.run(
        lambda stager: iter_folder_items(
            path, labels=labelled, metadata=meta, keys=keys, stager=stager
        ),
        total,
        "folder",
    )
