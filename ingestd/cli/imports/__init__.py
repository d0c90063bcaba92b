"""`ingestd import folder|csv|s3` (`import` is a Python keyword, hence `imports`)."""

from __future__ import annotations

import typer

from ingestd.cli.imports.csv import import_csv
from ingestd.cli.imports.folder import import_folder
from ingestd.cli.imports.s3 import import_s3

app = typer.Typer(
    help="Import inputs in bulk from a folder, a CSV file or an S3 prefix.", no_args_is_help=True
)
app.command("folder")(import_folder)
app.command("csv")(import_csv)
app.command("s3")(import_s3)
