"""`ingestd import folder|csv|s3|coco|jsonl` (`import` is a Python keyword, hence `imports`)."""

from __future__ import annotations

import typer

from ingestd.cli.imports.coco import import_coco
from ingestd.cli.imports.csv import import_csv
from ingestd.cli.imports.folder import import_folder
from ingestd.cli.imports.jsonl import import_jsonl
from ingestd.cli.imports.s3 import import_s3

app = typer.Typer(
    help="Import inputs in bulk from a folder, a CSV file, an S3 prefix, a COCO dataset or "
    "a JSON-lines file.",
    no_args_is_help=True,
)
app.command("folder")(import_folder)
app.command("csv")(import_csv)
app.command("s3")(import_s3)
app.command("coco")(import_coco)
app.command("jsonl")(import_jsonl)
