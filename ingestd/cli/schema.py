"""`ingestd schema`: the JSON Schema of each event."""

from __future__ import annotations

import typer

from ingestd.cli.options import JsonOpt, emit_json, fail
from pipeline.topics import EVENTS


def schema(
    event: str | None = typer.Argument(None, help=f"One of {', '.join(EVENTS)}; all when omitted."),
    as_json: bool = JsonOpt,
) -> None:
    """Print the JSON Schema of each event, for producers in any language."""
    del as_json  # the schema is JSON either way; the option makes errors JSON too
    if event is not None and event not in EVENTS:
        fail(f"unknown event {event!r}; choose one of {', '.join(EVENTS)}")
    chosen = {event: EVENTS[event]} if event else EVENTS
    emit_json({name: model.model_json_schema() for name, model in chosen.items()})
