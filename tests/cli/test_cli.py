"""The read-side CLI: inputs, datasets, schema; JSON output and exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ingestd.app.runtime import Runtime
from ingestd.cli import app
from pipeline.events import UploadRequest
from pipeline.models import Concept, Data, Input, Media, Text
from tests.support.storage import image_bytes

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path, monkeypatch, embedded: Runtime) -> Runtime:
    monkeypatch.setenv("INGESTD_CATALOG", embedded.settings.catalog)
    monkeypatch.setenv("INGESTD_BLOBS", embedded.settings.blobs)
    embedded.ingest.handle(
        UploadRequest(
            dataset_ids=["set-a"],
            inputs=[
                Input(
                    id="cat",
                    data=Data(image=Media(base64=image_bytes()), concepts=[Concept(id="cat")]),
                ),
                Input(id="note", data=Data(text=Text(raw="hello"))),
                Input(id="broken", data=Data(image=Media(base64=b"\xff\xd8\xffjunk"))),
            ],
        )
    )
    return embedded


def run(*args: str):
    return runner.invoke(app, list(args))


def test_inputs_commands(cli_env) -> None:
    listed = json.loads(run("inputs", "list", "--json").stdout)
    assert [r["id"] for r in listed["inputs"]] == ["broken", "cat", "note"]
    assert listed["next_cursor"] is None
    failed = json.loads(run("inputs", "list", "--failed", "--json").stdout)["inputs"]
    assert [(r["id"], r["status_code"]) for r in failed] == [("broken", 30101)]
    page = json.loads(run("inputs", "list", "--limit", "1", "--after", "broken", "--json").stdout)
    assert [r["id"] for r in page["inputs"]] == ["cat"]
    got = json.loads(run("inputs", "get", "cat", "--json").stdout)
    assert (
        got["dataset_ids"] == ["set-a"]
        and got["annotations"][0]["data"]["concepts"][0]["id"] == "cat"
    )
    missing = run("inputs", "get", "nope")
    assert missing.exit_code == 1 and "30102" in missing.output
    status = run("inputs", "status")
    assert status.exit_code == 1  # there are errors
    assert json.loads(run("inputs", "status", "--json").stdout)["errors"] == 1
    human = run("inputs", "list")
    assert "30101" in human.output and "broken" in human.output


def test_datasets_commands(cli_env) -> None:
    assert run("datasets", "create", "set-b", "--description", "second").exit_code == 0
    again = run("datasets", "create", "set-b")
    assert again.exit_code == 1 and "40010" in again.output
    bad = run("datasets", "create", "../x")
    assert bad.exit_code == 1
    sets = {d["id"]: d for d in json.loads(run("datasets", "list", "--json").stdout)}
    assert sets["set-a"]["inputs_count"] == 2 and sets["set-b"]["inputs_count"] == 0
    members = json.loads(run("datasets", "inputs", "set-a", "--json").stdout)
    assert [m["id"] for m in members] == ["cat", "note"]
    assert run("datasets", "inputs", "nope").exit_code == 1


def test_schema_prints_every_event() -> None:
    schemas = json.loads(run("schema").stdout)
    assert {"UploadRequest", "PredictionEvent", "SnapshotRequest", "DeadLetter"} <= set(schemas)
    one = json.loads(run("schema", "UploadRequest").stdout)
    props = one["UploadRequest"]["properties"]
    assert {"request_id", "inputs", "conflict_resolution"} <= set(props)
    assert run("schema", "Nope").exit_code == 1
