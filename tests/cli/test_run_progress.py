"""An import's progress is one add-job record (id: the run id) the stages update as they
store: `ingestd inputs status --run RUN` and GetInputsAddJob read it; redelivered requests
and dead letters count once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.catalog import schema as t
from ingestd.app.runtime import Runtime
from pipeline.events import UploadRequest
from pipeline.models import Data, Input, Text
from pipeline.status import StatusCode
from streams.delivery import Origin, dead_letter
from tests.support.cli import run as invoke
from tests.support.storage import image_bytes, use_storage


@pytest.fixture
def cli(embedded: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Runtime:
    use_storage(monkeypatch, embedded.settings)
    monkeypatch.chdir(tmp_path)
    return embedded


def stored_of_run(rt: Runtime, run_id: str) -> dict[int, int]:
    """Status code → inputs the ingest stage stored for the run (refusals kept as failed
    inputs name the run as their request)."""
    c = t.inputs.c
    query = select(c.status_code).where(c.run_id == run_id, c.request_id != run_id)
    with rt.catalog.begin() as conn:
        codes = conn.execute(query).scalars().all()
    return {code: codes.count(code) for code in set(codes)}


def make_folder(root: Path) -> Path:
    root.mkdir()
    for n in range(5):
        (root / f"t{n}.txt").write_text(f"text {n}")
    (root / "a.jpg").write_bytes(image_bytes(color="red"))
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")  # the stage fails it
    (root / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)  # refused before the stage
    with open(os.fsencode(root) + b"/bad\xff.txt", "wb") as fh:  # refused: name not UTF-8
        fh.write(b"x")
    return root


def test_an_import_is_one_add_job_whose_counts_are_what_was_stored(
    cli: Runtime, tmp_path: Path
) -> None:
    summary = invoke("import", "folder", str(make_folder(tmp_path / "d")), "--json", code=1)
    run = summary["run_id"]
    job = invoke("inputs", "status", "--run", run, "--json", code=1)
    held = stored_of_run(cli, run)
    assert job["succeeded"] == held[StatusCode.INPUT_SUCCESS] == summary["actions"]["created"]
    assert job["failed"] == sum(n for code, n in held.items() if code != StatusCode.INPUT_SUCCESS)
    assert (job["submitted"], job["refused"]) == (7, 2)
    assert job["failed"] + job["refused"] == summary["actions"]["failed"] == 3
    assert (job["pending"], job["in_progress"], job["done"]) == (0, 0, True)
    shown = invoke("inputs", "status", "--run", run, code=1)
    assert run in shown and "done" in shown

    # A request of the run delivered again (a redelivery) is a replay: it counts nothing.
    c = t.inputs.c
    with cli.catalog.begin() as conn:
        query = select(c.request_id).where(c.run_id == run, c.request_id != run)
        request_id = conn.execute(query).scalars().first()
    assert request_id is not None
    again = UploadRequest(
        request_id=request_id, run_id=run, inputs=[Input(data=Data(text=Text(raw="other")))]
    )
    cli.submit(again)
    cli.bus.join()
    assert invoke("inputs", "status", "--run", run, "--json", code=1) == job

    # A request of the run refused whole: its dead letter counts its inputs failed, once.
    refused = UploadRequest(run_id=run, inputs=[Input(data=Data(text=Text(raw="x")))] * 3)
    letter = dead_letter(
        refused.model_dump(mode="json"),
        "ingest",
        StatusCode.INPUT_INVALID_REQUEST,
        "refused",
        Origin("ingestd.uploads", 0, 7),
        dead_letter_id="dl-1",
    )
    cli.catalog.record_dead_letter(letter)
    cli.catalog.record_dead_letter(letter)  # recorded again after a crash
    after = invoke("inputs", "status", "--run", run, "--json", code=1)
    assert after["failed"] == job["failed"] + 3


def test_post_inputs_jobs_and_runs_read_the_same_record(cli: Runtime) -> None:
    """GetInputsAddJob's progress is the record an import run has too."""
    from ingestd.api.jobs import job_progress

    summary = invoke("import", "folder", str(make_folder(Path("d"))), "--json", code=1)
    progress = job_progress(cli.catalog, "me", "main", summary["run_id"])
    assert progress is not None and progress.done
    assert (progress.success, progress.failed) == (6, 3)
    assert job_progress(cli.catalog, "me", "main", "run-none") is None
    invoke("inputs", "status", "--run", "run-none", code=1)
