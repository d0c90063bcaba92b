"""Running `ingestd` commands in tests against a runtime's catalog and blob store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from ingestd.app.runtime import Runtime
from ingestd.cli import app
from tests.support.snapshots import seed
from tests.support.storage import use_storage

runner = CliRunner()


def seeded_cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """Commands run after this see `runtime`'s storage, seeded with the snapshot dataset."""
    use_storage(monkeypatch, runtime.settings)
    seed(runtime)
    return runtime


def run(*args: str, code: int = 0) -> Any:
    """Run a command, check its exit code; its JSON (under --json) or its output."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args else result.output
