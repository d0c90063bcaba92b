"""`ingestd worker`: the command only; the worker itself is ingestd.app.worker."""

from __future__ import annotations

import typer

from ingestd.cli.options import JsonOpt, fail
from ingestd.cli.state import settings


def worker(
    loglevel: str = typer.Option("info", "--loglevel", help="debug, info, warning or error."),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve Prometheus metrics on this port (INGESTD_METRICS_PORT)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Run the stages as Faust agents on Kafka (INGESTD_BROKER=kafka://host:port)."""
    del as_json  # the worker logs JSON lines already; the option makes errors JSON too
    from ingestd.app.worker import run_worker

    overrides = {"metrics_port": metrics_port} if metrics_port is not None else {}
    try:
        run_worker(settings().model_copy(update=overrides), loglevel)
    except ValueError as exc:
        fail(str(exc))
