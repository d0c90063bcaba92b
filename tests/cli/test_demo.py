"""`ingestd demo`: its report agrees with what the commands show afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingestd.cli import app

runner = CliRunner()


def test_demo_counts_include_the_collector_captures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INGESTD_CATALOG", f"sqlite:///{tmp_path}/catalog.db")
    monkeypatch.setenv("INGESTD_BLOBS", f"file://{tmp_path}/blobs")
    demo = runner.invoke(app, ["demo", "--dir", str(tmp_path / "demo"), "--json"])
    assert demo.exit_code == 0, demo.output
    report = json.loads(demo.stdout)
    status = json.loads(runner.invoke(app, ["inputs", "status", "--json"]).stdout)
    assert report["collector"], report  # the scene ran and captured inputs
    assert report["input_counts"] == status
