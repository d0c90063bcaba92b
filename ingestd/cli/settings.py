"""`ingestd settings`: the effective settings, secrets masked."""

from __future__ import annotations

import json

from ingestd.cli.options import JsonOpt, emit_json, table
from ingestd.cli.state import settings


def show_settings(as_json: bool = JsonOpt) -> None:
    """Print the effective settings (secrets masked)."""
    data = settings().redacted()
    if as_json:
        emit_json(data)
        return
    table(
        "settings (INGESTD_*)",
        ["name", "value"],
        [(k, json.dumps(v) if isinstance(v, dict | list) else v) for k, v in data.items()],
    )
