"""Every kind of id is checked over the whole string: a trailing newline is refused."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from connectors.importers.s3_source import parse_s3_url
from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from ingestd.cli import app
from pipeline.collect.collectors import parse_collector
from pipeline.collect.workflows.graph import parse_workflow
from pipeline.errors import InputError
from pipeline.events import SnapshotRequest, UploadRequest
from pipeline.ids import check_id
from pipeline.knowledge import check_relation
from pipeline.models import Data, Input, Text
from pipeline.records import Action
from pipeline.status import StatusCode

TAILS = ["\n", "\r\n", "\r", " ", "\t", "\x00"]


def collector_doc(collector_id: str = "c1", key_id: str = "k1") -> dict:
    source = {
        "model_user_id": "u",
        "model_app_id": "a",
        "model_id": "m",
        "model_version_id": "v",
        "post_inputs_key_id": key_id,
    }
    return {
        "id": collector_id,
        "pre_queue_random_sample": 0.5,
        "collector_source": {"api_post_model_outputs_collector_source": source},
    }


WORKFLOW_NODE = {"id": "n", "operator": "random-sample", "params": {"keep_fraction": 1}}

# Each kind of id, checked where it enters: the good value passes, the bad one is refused.
CHECKS: dict[str, Callable[[str], object]] = {
    "input": check_id,
    "dataset": lambda v: check_id(v, "dataset id"),
    "collector": lambda v: parse_collector(collector_doc(collector_id=v)),
    "key": lambda v: parse_collector(collector_doc(key_id=v)),
    "workflow": lambda v: parse_workflow({"id": v, "nodes": [WORKFLOW_NODE]}),
    "concept": lambda v: check_relation(v, "synonym", "other"),
    "user": lambda v: Settings(user_id=v),
    "app": lambda v: Settings(app_id=v),
}


@pytest.mark.parametrize("kind", sorted(CHECKS))
@pytest.mark.parametrize("tail", TAILS)
def test_a_trailing_character_outside_the_alphabet_is_refused(kind: str, tail: str) -> None:
    check = CHECKS[kind]
    check("pets")
    with pytest.raises((InputError, ValidationError)) as err:
        check("pets" + tail)
    assert "not allowed" in str(err.value)


def test_ingest_refuses_newline_ids_of_inputs_datasets_and_tenants(embedded: Runtime) -> None:
    text = Data(text=Text(raw="hello"))
    result = embedded.ingest.handle(
        UploadRequest(
            inputs=[Input(id="pets\n", data=text), Input(id="ok", data=text, dataset_ids=["d\n"])]
        )
    )
    assert [(o.action, o.code) for o in result.outcomes] == [
        (Action.FAILED, StatusCode.INPUT_INVALID_ARGUMENT)
    ] * 2
    s = embedded.settings
    assert embedded.catalog.get_input(s.user_id, s.app_id, "pets\n") is None
    assert embedded.catalog.list_datasets(s.user_id, s.app_id) == []
    for tenant in ({"user_id": "me\n"}, {"app_id": "main\n"}):
        with pytest.raises(InputError) as err:
            embedded.ingest.handle(UploadRequest(inputs=[Input(id="x", data=text)], **tenant))
        assert err.value.code is StatusCode.INPUT_INVALID_ARGUMENT


def test_snapshots_refuse_newline_dataset_version_and_tenant_ids(embedded: Runtime) -> None:
    for fields in (
        {"dataset_id": "d\n"},
        {"dataset_id": "d", "version_id": "v1\n"},
        {"dataset_id": "d", "app_id": "main\n"},
    ):
        with pytest.raises(InputError, match="not allowed"):
            embedded.snapshot.handle(SnapshotRequest(**fields))  # type: ignore[arg-type]


def test_cli_refuses_newline_ids(embedded: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGESTD_CATALOG", embedded.settings.catalog)
    monkeypatch.setenv("INGESTD_BLOBS", embedded.settings.blobs)
    runner = CliRunner()
    made = runner.invoke(app, ["datasets", "create", "pets\n"])
    assert made.exit_code == 1 and "not allowed" in made.output
    on_bad_app = runner.invoke(app, ["--app", "main\n", "datasets", "list"])
    assert on_bad_app.exit_code == 1 and "not allowed" in on_bad_app.output
    listed = runner.invoke(app, ["datasets", "list", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []


def test_s3_urls_and_buckets_are_checked_whole() -> None:
    assert parse_s3_url("s3://bucket/a/b").bucket == "bucket"
    for url in ("s3://bucket\n/x", "s3://bucket/a\nb"):
        with pytest.raises(ValueError):
            parse_s3_url(url)
