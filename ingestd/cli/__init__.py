"""The `ingestd` command: a thin layer over pipeline/, streams/ and connectors/.

Each command group lives where its name says: `ingestd X Y` is in `ingestd/cli/X`
(`import` is a keyword: `ingestd/cli/imports/`).
"""

from __future__ import annotations

import logging

import typer

import ingestd.cli.annotations as annotation_commands  # `from` would find __future__'s name
from ingestd import __version__
from ingestd.cli import (
    collectors,
    concepts,
    datasets,
    deadletters,
    imports,
    inputs,
    jobs,
    keys,
    produce,
    requests,
    versions,
    workflows,
)
from ingestd.cli.demo import demo
from ingestd.cli.gc import gc
from ingestd.cli.options import JsonErrorsGroup, JsonOpt, console, emit_json
from ingestd.cli.schema import schema
from ingestd.cli.serve import serve
from ingestd.cli.settings import show_settings
from ingestd.cli.state import set_overrides
from ingestd.cli.worker import worker

app = typer.Typer(
    help="ingestd: event-driven ingestion of ML data. Embedded by default (in-process bus, "
    "./.ingestd/blobs, ./.ingestd/catalog.db); INGESTD_BLOBS, INGESTD_CATALOG and "
    "INGESTD_BROKER switch each part to S3, PostgreSQL or Kafka.",
    no_args_is_help=True,
    cls=JsonErrorsGroup,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)


@app.callback()
def root(
    blobs: str | None = typer.Option(
        None, "--blobs", help="Blob store URL (overrides INGESTD_BLOBS)."
    ),
    catalog: str | None = typer.Option(
        None, "--catalog", help="Catalog URL (overrides INGESTD_CATALOG)."
    ),
    app_id: str | None = typer.Option(None, "--app", help="App id (overrides INGESTD_APP_ID)."),
    user_id: str | None = typer.Option(None, "--user", help="User id (overrides INGESTD_USER_ID)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the stages do."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    set_overrides(blobs=blobs, catalog=catalog, app_id=app_id, user_id=user_id)


@app.command()
def version(as_json: bool = JsonOpt) -> None:
    """Print the version."""
    if as_json:
        emit_json({"version": __version__})
    else:
        console.print(__version__)


app.command()(schema)
app.command("settings")(show_settings)
app.command()(demo)
app.command()(worker)
app.command()(serve)
app.command()(gc)
for name, group in {
    "import": imports,
    "jobs": jobs,
    "inputs": inputs,
    "annotations": annotation_commands,
    "datasets": datasets,
    "versions": versions,
    "keys": keys,
    "workflows": workflows,
    "collectors": collectors,
    "concepts": concepts,
    "produce": produce,
    "deadletters": deadletters,
    "requests": requests,
}.items():
    app.add_typer(group.app, name=name)


def main() -> None:
    app()
