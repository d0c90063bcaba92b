"""Set-up the command tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestd.app.runtime import Runtime
from tests.support.cli import seeded_cli


@pytest.fixture
def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Runtime:
    """Commands see `runtime`'s storage seeded with the snapshot dataset; they run in a
    temporary directory (reports and downloads land there)."""
    monkeypatch.chdir(tmp_path)
    return seeded_cli(runtime, monkeypatch)
