"""`ingestd import s3`, `ingestd jobs list|get|cancel` through the CLI; secrets kept secret."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from ingestd.cli import app
from pipeline.status import StatusCode
from tests.support.dropzone import new_bucket, put_many, runner_for
from tests.support.s3_server import MotoS3Server
from tests.support.storage import image_bytes

runner = CliRunner()
SECRET = "S3CR3T-must-never-appear-anywhere"


@pytest.fixture
def env(tmp_path: Path, s3: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "INGESTD_CATALOG": f"sqlite:///{tmp_path}/catalog.db",
        "INGESTD_BLOBS": f"file://{tmp_path}/blobs",
        "INGESTD_DROPZONE__WORK_DIR": str(tmp_path / "extract"),
        "INGESTD_SOURCE_ENDPOINT_URL": s3.endpoint_url,
        "INGESTD_SOURCE_ACCESS_KEY_ID": "testing",
        "INGESTD_SOURCE_SECRET_ACCESS_KEY": SECRET,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return values


def test_import_s3_then_list_get_and_cancel_a_finished_job(
    env: dict[str, str], s3: MotoS3Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # botocore at its chattiest: still no secret
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {"p/a.jpg": image_bytes(), "p/b.txt": b"hi", "p/c.bin": b"\x00\x01"})
    result = runner.invoke(
        app,
        ["-v", "import", "s3", f"s3://{bucket}/p/", "-c", "cat", "-d", "pets", "--json"],
    )
    assert result.exit_code == 1, result.output  # c.bin is not a supported type
    out = json.loads(result.stdout)
    job = out["job"]
    assert job["status"]["code"] == StatusCode.JOB_COMPLETED
    assert job["progress"]["image_inputs_count"] == 1 and job["progress"]["text_inputs_count"] == 1
    assert job["input_template"]["dataset_ids"] == ["pets"]
    assert job["credentials"] == "per-job (not stored)"
    assert [f["code"] for f in out["failures"]] == [StatusCode.INPUT_UNSUPPORTED_FORMAT]
    assert re.fullmatch(r"run-[0-9a-f]{12}", out["run_id"])  # the run, on every input it sent
    a = runner.invoke(app, ["inputs", "list", "--json"])
    assert {r["run_id"] for r in json.loads(a.stdout)["inputs"]} == {out["run_id"]}

    listed = runner.invoke(app, ["jobs", "list", "--json"])
    assert listed.exit_code == 0 and [j["id"] for j in json.loads(listed.stdout)] == [job["id"]]
    got = runner.invoke(app, ["jobs", "get", job["id"], "--json"])
    assert got.exit_code == 0 and json.loads(got.stdout)["progress"] == job["progress"]
    human = runner.invoke(app, ["jobs", "get", job["id"]])
    assert "64002 JOB_COMPLETED" in human.stdout
    late = runner.invoke(app, ["jobs", "cancel", job["id"]])
    assert late.exit_code == 1 and "already 64002 JOB_COMPLETED" in late.stderr
    missing = runner.invoke(app, ["jobs", "get", "nope"])
    assert missing.exit_code == 1 and "no extraction job" in missing.stderr

    # The secret is in no output, no log record and no catalog row.
    everything = result.output + listed.output + got.output + human.output + caplog.text
    assert "botocore" in caplog.text and "ListObjectsV2" in caplog.text  # logs were captured
    assert SECRET not in everything
    catalog = (tmp_path / "catalog.db").read_bytes()
    assert SECRET.encode() not in catalog
    for wal in tmp_path.glob("catalog.db-*"):
        assert SECRET.encode() not in wal.read_bytes()


def test_cancel_from_the_cli_reaches_a_queued_job(
    env: dict[str, str], s3: MotoS3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {"a.jpg": image_bytes()})
    rt = Runtime.open(Settings())
    try:
        job_runner = runner_for(rt, s3, f"s3://{bucket}/", tmp_path)
        cancelled = runner.invoke(app, ["jobs", "cancel", job_runner.job_id, "--json"])
        assert cancelled.exit_code == 0, cancelled.output
        assert json.loads(cancelled.stdout)["status"]["code"] == StatusCode.JOB_CANCELLED
        outcome = job_runner.run()
        assert outcome.job["status_code"] == StatusCode.JOB_CANCELLED
        with rt.catalog.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM inputs")).scalar_one() == 0
    finally:
        rt.close()


def test_bad_arguments_and_unreachable_buckets_fail_clearly(
    env: dict[str, str], s3: MotoS3Server
) -> None:
    bad = runner.invoke(app, ["import", "s3", "http://example.com/x"])
    assert bad.exit_code == 1 and "not an S3 URL" in bad.stderr
    half = runner.invoke(
        app,
        ["import", "s3", "s3://bucket-x/p", "--access-key-id", "k"],
        env={"INGESTD_SOURCE_SECRET_ACCESS_KEY": "", "INGESTD_SOURCE_ACCESS_KEY_ID": ""},
    )
    assert half.exit_code == 1 and "both --access-key-id and --secret-access-key" in half.stderr
    template = runner.invoke(app, ["import", "s3", "s3://bucket-x/p", "--template", "[1]"])
    assert template.exit_code == 1 and "--template must be a JSON object" in template.stderr
    gone = runner.invoke(app, ["import", "s3", "s3://no-such-bucket-zz/p", "--json"])
    assert gone.exit_code == 1
    job = json.loads(gone.stdout)["job"]
    assert job["status"]["code"] == StatusCode.JOB_FAILED
    assert "66000 LIST_OBJECTS_FAILED" in job["status"]["details"]


def test_watch_reports_every_poll_as_it_happens(env: dict[str, str], s3: MotoS3Server) -> None:
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {"w/a.jpg": image_bytes(), "w/b.txt": b"hi", "w/c.bin": b"\x00"})
    args = ["import", "s3", f"s3://{bucket}/w/", "--watch", "--cycles", "2", "--interval", "0"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 1, result.output  # c.bin is not a supported type
    lines = result.stdout.splitlines()
    polls = [json.loads(line) for line in lines[:2]]  # one compact JSON object per poll
    for poll in polls:
        assert poll["event"] == "poll" and poll["polled_at"]
        assert (poll["objects_seen"], poll["stored"], poll["failed"]) == (3, 2, 1)
    assert polls[0]["polled_at"] <= polls[1]["polled_at"]
    summary = json.loads("\n".join(lines[2:]))  # then the final summary, as without --watch
    assert summary["cycles"] == 2 and summary["job"]["status"]["code"] == StatusCode.JOB_COMPLETED

    human = runner.invoke(app, args)  # not a terminal: a plain line per poll
    assert sum(line.startswith("poll ") for line in human.stdout.splitlines()) == 2
    assert "seen 3 · stored 0 · failed 0" in human.stdout  # a second job: objects unchanged


def test_source_secret_from_a_secret_file_reaches_import_s3(
    env: dict[str, str], s3: MotoS3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "ingestd_source_secret_access_key").write_text(SECRET)
    monkeypatch.delenv("INGESTD_SOURCE_SECRET_ACCESS_KEY")
    monkeypatch.setenv("INGESTD_SECRETS_DIR", str(secrets))
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {"a.jpg": image_bytes()})
    result = runner.invoke(app, ["import", "s3", f"s3://{bucket}/", "--json"])
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)["job"]
    assert job["credentials"] == "per-job (not stored)" and job["progress"]["image_inputs_count"]
    assert SECRET not in result.output
