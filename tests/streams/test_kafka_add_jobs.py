"""A bulk import through Kafka with two workers: its add-job record, which both workers
update in the transactions that store its inputs, holds exactly what was stored."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from connectors.catalog import schema as t
from ingestd.app.runtime import Runtime
from ingestd.cli import app
from pipeline.status import StatusCode
from tests.support.kafka_harness import WorkerProcess, settings_env
from tests.support.storage import make_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

runner = CliRunner()
FILES = 600


def test_two_workers_count_an_import_exactly(tmp_path, request, kafka, monkeypatch) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for n in range(FILES):
        (folder / f"t{n:04}.txt").write_text(f"text {n}")
    for n in range(3):  # the stage fails these
        (folder / f"broken{n}.jpg").write_bytes(b"\xff\xd8 not a jpeg " + bytes([n]))
    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, "postgres", "local", request).model_copy(
        update={"broker": f"kafka://{kafka.bootstrap}", "topic_prefix": f"j{uuid.uuid4().hex[:8]}-"}
    )
    for key, value in settings_env(settings).items():
        if key.startswith("INGESTD_"):
            monkeypatch.setenv(key, value)
    workers = [WorkerProcess(settings, tmp_path / f"worker{n}.log").start() for n in range(2)]
    try:
        result = runner.invoke(app, ["import", "folder", str(folder), "--json", "--timeout", "240"])
    finally:
        for worker in workers:
            worker.stop()
    assert result.exit_code == 1, result.output  # the broken files
    summary = json.loads(result.stdout)
    run = summary["run_id"]
    status = runner.invoke(app, ["inputs", "status", "--run", run, "--json"])
    job = json.loads(status.stdout)

    c = t.inputs.c
    with Runtime.open(settings) as rt, rt.catalog.begin() as conn:
        rows = conn.execute(
            select(c.status_code, func.count()).where(c.run_id == run).group_by(c.status_code)
        ).all()
    held = {code: n for code, n in rows}
    assert held == {StatusCode.INPUT_SUCCESS: FILES, StatusCode.INPUT_UNSUPPORTED_FORMAT: 3}
    assert (job["submitted"], job["succeeded"], job["failed"]) == (FILES + 3, FILES, 3)
    assert (job["refused"], job["pending"], job["in_progress"], job["done"]) == (0, 0, 0, True)
    assert summary["actions"] == {"created": FILES, "failed": 3}
