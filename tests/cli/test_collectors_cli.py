"""`ingestd keys / workflows / collectors / concepts` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.catalog import SqlCatalog
from connectors.catalog.collectors_tables import api_keys
from ingestd.cli import app
from pipeline.keys import verify_secret
from tests.support.storage import fresh_pg_url

runner = CliRunner()
PRE = """
id: cats
description: cats above 0.8
nodes:
  - {id: sample, operator: random-sample, params: {keep_fraction: 1}}
  - id: thr
    operator: concept-thresholder
    inputs: [sample]
    params: {concepts: {cat: 0.8}, concept_threshold_type: GREATER_THAN}
"""
POST = {
    "id": "caption",
    "nodes": [
        {
            "id": "blip",
            "operator": "model",
            "params": {
                "url": "http://127.0.0.1:9/caption",
                "headers": {"Authorization": "Key s3cret"},
            },
        }
    ],
}


@pytest.fixture(params=["sqlite", "postgres"])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        url = fresh_pg_url(request.getfixturevalue("pg"))
    else:
        url = f"sqlite:///{tmp_path}/catalog.db"
    monkeypatch.setenv("INGESTD_CATALOG", url)
    monkeypatch.setenv("INGESTD_BLOBS", f"file://{tmp_path}/blobs")
    monkeypatch.chdir(tmp_path)
    return url


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str, code: int | None = None) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code != 0, result.output
    if code is not None:
        assert str(code) in result.output, result.output
    return result.output


def make_key(*scopes: str, app_id: str = "main") -> dict:
    return json.loads(ok("--app", app_id, "keys", "create", "--scopes", ",".join(scopes), "--json"))


def test_keys_secret_shown_once_and_stored_hashed(cli_env: str) -> None:
    created = make_key("PostInputs", "getinputs")
    secret = created["secret"]
    assert created["scopes"] == ["PostInputs", "GetInputs"]
    catalog = SqlCatalog(cli_env)
    try:
        with catalog.begin() as conn:
            row = conn.execute(api_keys.select()).mappings().one()
        assert secret not in json.dumps(dict(row), default=str)
        key = catalog.keys.get(created["id"])
        assert (
            key is not None and verify_secret(key, secret) and not verify_secret(key, secret + "x")
        )
    finally:
        catalog.close()
    for command in (
        ["keys", "list", "--json"],
        ["keys", "get", created["id"], "--json"],
        ["keys", "list"],
    ):
        out = ok(*command)
        assert secret not in out and "secret_hash" not in out and created["id"][:8] in out
    human = ok("-v", "keys", "create", "--scopes", "PostInputs")
    assert human.count("ik_") == 1 and "cannot be shown again" in human
    refused("keys", "create", "--scopes", "PostInputs,Teleport", code=11102)
    refused("keys", "get", "nope", code=11009)


def test_workflows_create_list_get_delete(cli_env: str, tmp_path: Path) -> None:
    (tmp_path / "pre.yaml").write_text(PRE)
    (tmp_path / "post.json").write_text(json.dumps(POST))
    assert "created workflow cats" in ok("workflows", "create", "pre.yaml")
    refused("workflows", "create", "pre.yaml", code=22100)
    ok("workflows", "create", "pre.yaml", "--replace")
    ok("workflows", "create", "post.json")
    listed = json.loads(ok("workflows", "list", "--json"))
    assert [w["id"] for w in listed] == ["caption", "cats"]
    got = json.loads(ok("workflows", "get", "caption", "--json"))
    assert got["nodes"][0]["params"]["headers"] == {"Authorization": "**********"}
    assert "s3cret" not in ok("workflows", "get", "caption")
    page = json.loads(ok("workflows", "list", "--limit", "1", "--after", "caption", "--json"))
    assert [w["id"] for w in page] == ["cats"]

    bad = dict(
        POST,
        id="bad",
        nodes=[
            *POST["nodes"],
            {
                "id": "x",
                "operator": "random-sample",
                "inputs": ["missing"],
                "params": {"keep_fraction": 1},
            },
        ],
    )
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    out = refused("workflows", "create", "bad.json", code=22107)
    assert "'missing'" in out
    (tmp_path / "cycle.yaml").write_text(
        "id: loop\nnodes:\n"
        "- {id: a, operator: random-sample, inputs: [b], params: {keep_fraction: 1}}\n"
        "- {id: b, operator: random-sample, inputs: [a], params: {keep_fraction: 1}}\n"
    )
    assert "cycle" in refused("workflows", "create", "cycle.yaml", code=22107)
    (tmp_path / "alias.yaml").write_text("id: &x w\nnodes: [*x]\n")
    refused("workflows", "create", "alias.yaml", code=22101)
    (tmp_path / "unknown.yaml").write_text("id: u\nnodes: [{id: a, operator: teleport}]\n")
    assert "unknown operator" in refused("workflows", "create", "unknown.yaml", code=22104)
    assert "random-sample" in ok("workflows", "operators")

    key = make_key("PostInputs")["id"]
    ok("collectors", "create", "c1", "--model", "m", "--key", key, "--pre-queue-workflow", "cats")
    assert "used by collector" in refused("workflows", "delete", "cats")
    ok("workflows", "delete", "caption")
    refused("workflows", "get", "caption", code=22102)


def test_collector_create_checks_everything_it_names(cli_env: str, tmp_path: Path) -> None:
    (tmp_path / "pre.yaml").write_text(PRE)
    ok("workflows", "create", "pre.yaml")
    good = make_key("PostInputs")["id"]
    scopeless = make_key("GetInputs")["id"]
    elsewhere = make_key("PostInputs", app_id="other")["id"]
    base = ["collectors", "create", "c1", "--model", "general"]
    refused(*base, "--key", good, code=11102)  # no workflow and no random sample
    refused(*base, "--key", "nope", "--random-sample", "0.5", code=11009)
    refused(*base, "--key", elsewhere, "--random-sample", "0.5", code=11008)
    refused(*base, "--key", scopeless, "--random-sample", "0.5", code=11007)
    refused(*base, "--key", good, "--pre-queue-workflow", "dogs", code=22102)
    refused(*base, "--key", good, "--random-sample", "1.5", code=11102)
    created = json.loads(ok(*base, "--key", good, "--pre-queue-workflow", "cats", "--json"))
    source = created["collector_source"]["api_post_model_outputs_collector_source"]
    assert source == {
        "model_user_id": "me",
        "model_app_id": "main",
        "model_id": "general",
        "model_version_id": "",
        "post_inputs_key_id": good,
        "caller_user_id": "",
    }
    assert created["status"] == "active" and created["app_id"] == "main"
    refused(*base, "--key", good, "--random-sample", "0.5", code=40010)
    # A platform-shaped document works too.
    doc = {
        "id": "ignored",
        "description": "from a file",
        "pre_queue_random_sample": 0.25,
        "collector_source": {
            "api_post_model_outputs_collector_source": {
                "model_user_id": "clarifai",
                "model_app_id": "main",
                "model_id": "general-image-recognition",
                "model_version_id": "aa7f",
                "post_inputs_key_id": good,
                "caller_user_id": "alice",
            }
        },
    }
    (tmp_path / "c2.json").write_text(json.dumps(doc))
    c2 = json.loads(ok("collectors", "create", "c2", "--file", "c2.json", "--inactive", "--json"))
    assert c2["id"] == "c2" and c2["status"] == "inactive" and c2["pre_queue_random_sample"] == 0.25
    assert (
        c2["collector_source"]["api_post_model_outputs_collector_source"]["model_user_id"]
        == "clarifai"
    )


def test_collector_update_list_delete_and_status(cli_env: str, tmp_path: Path) -> None:
    (tmp_path / "pre.yaml").write_text(PRE)
    ok("workflows", "create", "pre.yaml")
    key = make_key("PostInputs")["id"]
    for n in range(5):
        ok(
            "collectors",
            "create",
            f"c{n}",
            "--model",
            "general",
            "--key",
            key,
            "--pre-queue-workflow",
            "cats",
            "--caller",
            "alice",
            "--collect-outputs",
            "--dataset",
            "collected",
        )

    def get(cid: str) -> dict:
        return json.loads(ok("collectors", "get", cid, "--json"))

    # merge: only the given fields change
    ok(
        "collectors",
        "update",
        "c0",
        "--description",
        "cats",
        "--random-sample",
        "0.5",
        "--model-version",
        "v9",
    )
    c0 = get("c0")
    src = c0["collector_source"]["api_post_model_outputs_collector_source"]
    assert c0["description"] == "cats" and c0["pre_queue_random_sample"] == 0.5
    assert (
        src["model_version_id"] == "v9"
        and src["caller_user_id"] == "alice"
        and c0["collect_outputs"]
    )
    # remove: drop fields, keep the rest
    remove = ["collectors", "update", "c0", "--action", "remove"]
    ok(*remove, "--field", "caller_user_id", "--field", "pre_queue_workflow_id")
    c0 = get("c0")
    assert c0["collector_source"]["api_post_model_outputs_collector_source"]["caller_user_id"] == ""
    assert c0["pre_queue_workflow_id"] == "" and c0["pre_queue_random_sample"] == 0.5
    refused(*remove, "--field", "pre_queue_random_sample", code=11102)
    assert get("c0")["pre_queue_random_sample"] == 0.5, "a refused update changes nothing"
    # overwrite: the given object replaces the stored one (missing fields take defaults)
    whole = {
        "pre_queue_random_sample": 1.0,
        "collector_source": {
            "api_post_model_outputs_collector_source": {
                "model_user_id": "me",
                "model_app_id": "main",
                "model_id": "other",
                "post_inputs_key_id": key,
            }
        },
    }
    (tmp_path / "whole.json").write_text(json.dumps(whole))
    ok("collectors", "update", "c0", "--action", "overwrite", "--file", "whole.json")
    c0 = get("c0")
    assert c0["description"] == "" and not c0["collect_outputs"] and c0["dataset_id"] is None
    assert c0["collector_source"]["api_post_model_outputs_collector_source"]["model_id"] == "other"
    refused("collectors", "update", "c0", "--action", "overwrite", "--description", "x", code=11102)
    refused("collectors", "update", "c0", "--key", "nope", code=11009)
    refused("collectors", "update", "missing", "--description", "x", code=52000)

    page1 = json.loads(ok("collectors", "list", "--limit", "2", "--json"))
    page2 = json.loads(
        ok("collectors", "list", "--limit", "2", "--after", page1[-1]["id"], "--json")
    )
    assert [c["id"] for c in page1 + page2] == ["c0", "c1", "c2", "c3"]
    assert "more: --after c1" in ok("collectors", "list", "--limit", "2")

    out = refused("collectors", "deactivate", "c1", "c9", code=52000)
    assert get("c1")["status"] == "inactive" and "inactive: c1" in out
    ok("collectors", "activate", "c1")
    assert get("c1")["status"] == "active"

    result = runner.invoke(app, ["collectors", "delete", "c1", "c2", "c9", "--json"])
    assert result.exit_code == 1 and json.loads(result.output) == {
        "deleted": ["c1", "c2"],
        "missing": ["c9"],
    }
    refused("collectors", "delete")
    ok("collectors", "delete", "--all")
    assert json.loads(ok("collectors", "list", "--json")) == []


def test_concept_relations_cli(cli_env: str) -> None:
    ok("concepts", "relate", "cat", "feline")
    ok("concepts", "relate", "animal", "cat", "--type", "hypernym")
    assert "already there" in ok("concepts", "relate", "cat", "feline")
    refused("concepts", "relate", "cat", "cat", code=40003)
    refused("concepts", "relate", "cat", "dog", "--type", "cousin", code=40003)
    rows = json.loads(ok("concepts", "relations", "--json"))
    assert rows == [
        {"subject": "animal", "predicate": "hypernym", "object": "cat"},
        {"subject": "cat", "predicate": "synonym", "object": "feline"},
    ]
    ok("concepts", "unrelate", "cat", "feline")
    refused("concepts", "unrelate", "cat", "feline")
    assert len(json.loads(ok("concepts", "relations", "--json"))) == 1


def test_produce_predictions_file_end_to_end(cli_env: str, tmp_path: Path) -> None:
    import base64

    from tests.support.storage import image_bytes

    (tmp_path / "pre.yaml").write_text(PRE)
    ok("workflows", "create", "pre.yaml")
    key = make_key("PostInputs")["id"]
    ok(
        "collectors",
        "create",
        "cats",
        "--model",
        "general",
        "--model-version",
        "v1",
        "--key",
        key,
        "--pre-queue-workflow",
        "cats",
        "--dataset",
        "collected",
    )
    model = {"user_id": "me", "app_id": "main", "model_id": "general", "version_id": "v1"}
    img = base64.b64encode(image_bytes()).decode()

    def event(eid: str, cat: float) -> str:
        return json.dumps(
            {
                "event_id": eid,
                "caller_user_id": "svc",
                "model": model,
                "input": {"base64": img},
                "outputs": {"concepts": [{"id": "cat", "value": cat}]},
            }
        )

    lines = [
        event("e1", 0.95),
        event("e2", 0.2),
        "{not json",
        json.dumps({"event_id": "e3"}),
        event("e4", 0.9),
    ]
    (tmp_path / "preds.jsonl").write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["produce", "predictions", "preds.jsonl", "--json"])
    assert result.exit_code == 1, result.output  # two bad lines
    summary = json.loads(result.stdout)
    assert summary["events"] == 3 and [b["line"] for b in summary["bad_lines"]] == [3, 4]
    assert all(b["code"] == 11100 for b in summary["bad_lines"])
    assert summary["outcomes"] == {"captured": 2, "dropped": 1}
    assert summary["captures_stored"] == {"created": 2}
    stored = json.loads(ok("inputs", "list", "--dataset", "collected", "--json"))["inputs"]
    assert len(stored) == 2
    # Sending the same file again stores nothing new.
    (tmp_path / "good.jsonl").write_text(event("e1", 0.95) + "\n" + event("e4", 0.9) + "\n")
    again = json.loads(ok("produce", "predictions", "good.jsonl", "--json"))
    assert again["captures_stored"] == {"unchanged": 2}
    assert len(json.loads(ok("inputs", "list", "--json"))["inputs"]) == 2
