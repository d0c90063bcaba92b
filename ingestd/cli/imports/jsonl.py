"""`ingestd import jsonl`: one input per line, in the UploadRequest input shape."""

from __future__ import annotations

from pathlib import Path

import typer

from ingestd.cli.imports.common import ImportArgs
from ingestd.cli.option_groups import grouped


@grouped(common=ImportArgs)
def import_jsonl(
    path: Path = typer.Argument(
        ...,
        help="JSON-lines file: one input object per line (`ingestd schema UploadRequest`, "
        "its inputs), annotations included.",
        exists=True,
        dir_okay=False,
    ),
    *,  # the group has no default: @grouped fills it
    common: ImportArgs,
) -> None:
    """Import the inputs of a JSON-lines file; a bad line fails alone with its line number."""
    from connectors.importers.jsonl import count_lines, iter_jsonl_items

    meta, keys = common.parsed("jsonl", path.resolve().as_posix())
    total = len(keys) if keys is not None else count_lines(path)
    common.run(lambda _stager: iter_jsonl_items(path, metadata=meta, keys=keys), total, "jsonl")
