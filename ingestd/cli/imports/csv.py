"""`ingestd import csv`: the rows of a CSV file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import typer

from connectors.importers.items import ImportItem
from connectors.importers.staging import FileStager
from ingestd.cli.imports.common import ImportArgs
from ingestd.cli.option_groups import grouped
from ingestd.cli.options import fail


@grouped(common=ImportArgs)
def import_csv(
    path: Path = typer.Argument(
        ...,
        help="CSV or TSV file: the platform template or inputid,input,concepts,metadata,geopoints.",
        exists=True,
        dir_okay=False,
    ),
    input_type: str | None = typer.Option(
        None,
        "--type",
        help="auto (default), image, video, audio or text: how to read the input column.",
        show_default=False,
    ),
    base_dir: Path | None = typer.Option(
        None,
        "--base-dir",
        help="Folder that local file paths in the CSV are read from (default: the CSV's "
        "folder); paths leading outside it are refused.",
        exists=True,
        file_okay=False,
    ),
    *,  # the group has no default: @grouped fills it
    common: ImportArgs,
) -> None:
    """Import the rows of a CSV file: URLs, raw text or local file paths, with concepts."""
    from connectors.importers.csv_rows import iter_csv_items

    base = base_dir.resolve().as_posix() if base_dir is not None else None
    meta, keys = common.parsed(
        "csv", path.resolve().as_posix(), type=(input_type, "auto"), base_dir=(base, None)
    )
    input_type, chosen_base = common.option("type"), common.option("base_dir")
    if input_type not in {"auto", "image", "video", "audio", "text"}:
        fail(f"--type must be auto, image, video, audio or text, not {input_type!r}")
    base_dir = Path(chosen_base) if chosen_base is not None else None
    with path.open("rb") as fh:
        rows = max(0, sum(1 for _ in fh) - 1)
    total = len(keys) if keys is not None else rows

    def items(stager: FileStager) -> Iterator[ImportItem]:
        try:
            rows = iter_csv_items(
                path,
                input_type=input_type,
                metadata=meta,
                keys=keys,
                base_dir=base_dir,
                stager=stager,
            )
            first = next(rows, None)  # the header is checked on the first step: fail early
        except ValueError as exc:
            fail(str(exc))
        return _chain(first, rows)

    common.run(items, total, "csv")


def _chain(first: ImportItem | None, rest: Iterator[ImportItem]) -> Iterator[ImportItem]:
    if first is not None:
        yield first
        yield from rest
