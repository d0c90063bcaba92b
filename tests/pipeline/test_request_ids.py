"""Request ids: scoped to their app, stable across redeliveries, and their outcomes shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from connectors.catalog import SqlCatalog
from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from ingestd.cli import app
from pipeline.events import UploadRequest
from pipeline.models import Data, Input, Media, Text
from pipeline.records import Action
from pipeline.status import StatusCode


def text_input(input_id: str | None, raw: str = "hello") -> Input:
    return Input(id=input_id, data=Data(text=Text(raw=raw)))


def test_two_apps_may_use_the_same_request_id(embedded: Runtime) -> None:
    for app_id, raw in (("app-a", "from a"), ("app-b", "from b")):
        result = embedded.ingest.handle(
            UploadRequest(request_id="req-1", app_id=app_id, inputs=[text_input("x", raw)])
        )
        assert not result.replayed, app_id
        assert [o.action for o in result.outcomes] == [Action.CREATED]
        assert embedded.catalog.get_input("me", app_id, "x") is not None
    # Each app still sees its own request as a replay.
    again = embedded.ingest.handle(
        UploadRequest(request_id="req-1", app_id="app-b", inputs=[text_input("x", "from b")])
    )
    assert again.replayed
    assert embedded.catalog.settled("me", "app-c", ["req-1"]) == {}


RAW = json.dumps(
    {
        "app_id": "main",
        "inputs": [{"data": {"text": {"raw": "a"}}}, {"data": {"text": {"raw": "b"}}}],
    }
)


def test_a_redelivered_request_without_an_id_is_stored_once(embedded: Runtime) -> None:
    first, second = UploadRequest.model_validate_json(RAW), UploadRequest.model_validate_json(RAW)
    assert first.request_id == second.request_id and len(first.request_id) == 32
    stored = embedded.ingest.handle(first)
    assert [o.action for o in stored.outcomes] == [Action.CREATED, Action.CREATED]
    redelivered = embedded.ingest.handle(second)
    assert redelivered.replayed
    assert [o.input_id for o in redelivered.outcomes] == [o.input_id for o in stored.outcomes]
    assert len(embedded.catalog.list_inputs("me", "main")) == 2
    # Other content (or an explicit time of creation) is another request.
    other = UploadRequest.model_validate_json(RAW.replace('"b"', '"c"'))
    dated = UploadRequest.model_validate_json(RAW[:-1] + ', "created_at": "2024-01-01T00:00:00Z"}')
    assert len({first.request_id, other.request_id, dated.request_id}) == 3
    # A given id is kept as given.
    assert UploadRequest(request_id="mine", inputs=[]).request_id == "mine"


@pytest.fixture
def cli_runtime(embedded: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("INGESTD_CATALOG", embedded.settings.catalog)
    monkeypatch.setenv("INGESTD_BLOBS", embedded.settings.blobs)
    monkeypatch.setenv("COLUMNS", "200")  # tables unfolded, so their cells can be found
    return embedded


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_inputs_refused_for_their_id_are_listed_counted_and_shown(cli_runtime: Runtime) -> None:
    request = UploadRequest(
        request_id="req-bad",
        inputs=[
            text_input("good"),
            text_input("has/slash"),
            text_input("pets\n"),
            text_input("has/slash", "again"),  # the same refused id twice in one request
            Input(id="broken", data=Data(image=Media(base64=b"\xff\xd8\xffjunk"))),
        ],
    )
    outcomes = cli_runtime.ingest.handle(request).outcomes
    broken_code = outcomes[4].code
    assert broken_code is not StatusCode.INPUT_SUCCESS

    status = run("inputs", "status", "--json")
    assert status.exit_code == 0 and json.loads(status.stdout)["errors"] == 3
    assert run("inputs", "status").exit_code == 1

    failed = json.loads(run("inputs", "list", "--failed", "--json").stdout)["inputs"]
    assert [(r["id"], r["status_code"], r.get("refused", False)) for r in failed] == [
        ("broken", int(broken_code), False),
        ("has/slash", int(StatusCode.INPUT_INVALID_ARGUMENT), True),
        ("pets\\n", int(StatusCode.INPUT_INVALID_ARGUMENT), True),
    ]
    assert "not allowed" in failed[1]["status_message"] and failed[1]["request_id"] == "req-bad"
    pages = [
        run("inputs", "list", "--failed", "--limit", "1", "--after", a, "--json")
        for a in ("", "broken", "has/slash")
    ]
    assert [json.loads(p.stdout)["inputs"][0]["id"] for p in pages] == [
        "broken",
        "has/slash",
        "pets\\n",
    ]
    human = run("inputs", "list", "--failed")
    assert "pets\\n" in human.output and "30104" in human.output
    # Refused ids are not stored inputs: the full listing has only what the catalog holds.
    listed = json.loads(run("inputs", "list", "--json").stdout)["inputs"]
    assert [r["id"] for r in listed] == ["broken", "good"]

    got = run("requests", "get", "req-bad", "--json")
    assert got.exit_code == 1  # some inputs failed
    body = json.loads(got.stdout)
    assert body["state"] == "processed" and body["stage"] == "ingest"
    assert [(o["requested_id"], o["action"], o["code"]) for o in body["outcomes"]][:3] == [
        ("good", "created", 30000),
        ("has/slash", "failed", 30104),
        ("pets\n", "failed", 30104),
    ]
    human_get = run("requests", "get", "req-bad")
    assert "pets\\n" in human_get.output and "30104 INPUT_INVALID_ARGUMENT" in human_get.output

    unknown = run("requests", "get", "nope")
    assert unknown.exit_code == 1 and "11101" in unknown.output
    other_app = run("--app", "other", "requests", "get", "req-bad")
    assert other_app.exit_code == 1 and "11101" in other_app.output

    cli_runtime.ingest.handle(UploadRequest(request_id="req-ok", inputs=[text_input("fine")]))
    ok = run("requests", "get", "req-ok")
    assert ok.exit_code == 0 and "1 created" in ok.output


def _old_processed_events(url: str, rows: list[tuple[str, str]]) -> None:
    """Put the catalog back to before migration 0008: processed events keyed by id alone."""
    catalog = SqlCatalog(url)
    kind = "JSONB" if catalog.dialect == "postgresql" else "JSON"
    with catalog.engine.begin() as conn:
        conn.execute(text("DROP TABLE processed_events"))
        conn.execute(
            text(
                "CREATE TABLE processed_events (event_id VARCHAR(64) PRIMARY KEY, "
                f"stage VARCHAR(32) NOT NULL, outcomes {kind} NOT NULL, "
                "processed_at TIMESTAMP WITH TIME ZONE NOT NULL)"
            )
        )
        for event_id, stage in rows:
            conn.execute(
                text("INSERT INTO processed_events VALUES (:e, :s, '[]', '2024-01-01T00:00:00Z')"),
                {"e": event_id, "s": stage},
            )
        conn.execute(
            text("DELETE FROM schema_migrations WHERE name = '0008_tenant_processed_events'")
        )
    catalog.close()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_existing_catalog_gets_tenant_scoped_request_ids(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.support.storage import make_settings

    settings: Settings = make_settings(tmp_path, kind, "local", request)
    with Runtime.open(settings) as rt:
        rt.ingest.handle(UploadRequest(request_id="req-1", inputs=[text_input("x")]))
    _old_processed_events(settings.catalog, [("req-1", "ingest"), ("task-9", "media")])

    with Runtime.open(settings) as rt:
        columns = [c["name"] for c in inspect(rt.catalog.engine).get_columns("processed_events")]
        assert {"user_id", "app_id", "event_id"} <= set(columns)
        with rt.catalog.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT user_id, app_id, event_id, stage FROM processed_events ORDER BY 3")
            ).all()
        # The old request is its app's (found through its inputs); the rest keep no app.
        assert [tuple(r) for r in rows] == [
            ("me", "main", "req-1", "ingest"),
            ("", "", "task-9", "media"),
        ]
        assert rt.ingest.handle(
            UploadRequest(request_id="req-1", inputs=[text_input("x")])
        ).replayed
        other = UploadRequest(request_id="req-1", app_id="other", inputs=[text_input("x")])
        assert not rt.ingest.handle(other).replayed
    with Runtime.open(settings) as rt:  # applied once: reopening changes nothing
        assert rt.catalog.settled("me", "other", ["req-1"])


def test_an_input_without_a_medium_is_refused_alone(embedded: Runtime) -> None:
    result = embedded.ingest.handle(
        UploadRequest(inputs=[text_input("ok"), Input(id="empty", data=Data())])
    )
    assert [o.code for o in result.outcomes] == [
        StatusCode.INPUT_SUCCESS,
        StatusCode.INPUT_INVALID_ARGUMENT,
    ]
    assert embedded.catalog.get_input("me", "main", "ok") is not None
