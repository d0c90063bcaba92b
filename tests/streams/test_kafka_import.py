"""`ingestd import folder` against the broker stores what the embedded mode stores."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingestd.app.runtime import Runtime
from ingestd.cli import app
from tests.cli.test_import_folder import make_folder
from tests.support.kafka_harness import WorkerProcess, settings_env
from tests.support.storage import make_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

runner = CliRunner()
FIELDS = ("id", "media_type", "format", "status_code", "sha256", "concepts", "metadata", "size")


def stored(settings) -> list[tuple]:
    with Runtime.open(settings) as rt:
        return sorted(
            tuple(json.dumps(r[f], sort_keys=True) for f in FIELDS)
            for r in rt.catalog.iter_inputs("me", "main")
        )


def import_folder(settings, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    for key, value in settings_env(settings).items():
        if key.startswith("INGESTD_"):
            monkeypatch.setenv(key, value)
    result = runner.invoke(
        app,
        [
            "import",
            "folder",
            str(folder),
            "--labels",
            "--dataset",
            "pets",
            "--json",
            "--timeout",
            "180",
        ],
    )
    assert result.exit_code == 1, result.output  # the broken files fail in both modes
    return json.loads(result.stdout)


def test_kafka_import_matches_embedded(tmp_path, request, kafka, monkeypatch) -> None:
    folder = tmp_path / "data"
    make_folder(folder)
    monkeypatch.chdir(tmp_path)
    embedded = make_settings(tmp_path / "embedded", "sqlite", "local", request)
    (tmp_path / "embedded").mkdir()
    kafka_mode = make_settings(tmp_path, "postgres", "s3", request).model_copy(
        update={"broker": f"kafka://{kafka.bootstrap}", "topic_prefix": f"i{uuid.uuid4().hex[:8]}-"}
    )
    first = import_folder(embedded, folder, monkeypatch)
    worker = WorkerProcess(kafka_mode, tmp_path / "worker.log").start()
    try:
        second = import_folder(kafka_mode, folder, monkeypatch)
    finally:
        worker.stop()
    assert first["actions"] == second["actions"] == {"created": 5, "failed": 3}
    assert sorted(f["item"] for f in first["failures"]) == sorted(
        f["item"] for f in second["failures"]
    )
    assert stored(embedded) == stored(kafka_mode)
