"""Post-queue workflows with real model endpoints (http.server on 127.0.0.1) and Python models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.python_models import register
from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from pipeline.collect.capture import capture_ids
from pipeline.collect.collectors import patched
from pipeline.events import PredictionEvent
from pipeline.models import Text
from pipeline.status import StatusCode
from tests.support.collectors import (
    APP,
    USER,
    inputs,
    make_collector,
    make_key,
    prediction,
    save_workflow,
    settle,
)
from tests.support.model_server import ModelServer
from tests.support.storage import local_settings

SAMPLE_ALL = {
    "id": "sample-all",
    "nodes": [{"id": "sample", "operator": "random-sample", "params": {"keep_fraction": 1}}],
}


def model_workflow(wf_id: str, url: str, **params: object) -> dict:
    return {
        "id": wf_id,
        "nodes": [{"id": "m", "operator": "model", "params": {"url": url, **params}}],
    }


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    with ModelServer() as s:
        yield s


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime.open(local_settings(tmp_path, model_allow=["127.0.0.1"]))
    rt.collect.backoff_s = 0.05
    try:
        yield rt
    finally:
        rt.close()


def captured(rt: Runtime, event_id: str, collector_id: str) -> dict:
    _, input_id = capture_ids(event_id, f"{USER}/{APP}/{collector_id}")
    row = rt.catalog.get_input(USER, APP, input_id)
    assert row is not None, f"{event_id} was not captured by {collector_id}"
    return row


def test_reference_example_caption_then_as_is(storage: Settings, server: ModelServer) -> None:
    """collectors.md: pre-queue keep_fraction 1, post-queue captioning; then post-queue removed."""
    with Runtime.open(storage.model_copy(update={"model_allow": ["127.0.0.1"]})) as rt:
        key = make_key(rt)
        save_workflow(rt, SAMPLE_ALL)
        save_workflow(
            rt, model_workflow("caption", f"{server.url}/caption", model_version_id="blip-1")
        )
        collector = make_collector(
            rt,
            "captured",
            key,
            pre_queue_workflow_id="sample-all",
            post_queue_workflow_id="caption",
        )
        rt.publish(prediction("p1", color="red"))
        settle(rt)
        row = captured(rt, "p1", "captured")
        assert row["media_type"] == "image" and row["status_code"] == StatusCode.INPUT_SUCCESS
        [ann] = row["annotations"]
        assert ann["data"]["text"]["raw"] == "a red picture"
        assert ann["model_version_id"] == "blip-1"

        removed = patched(collector, "remove", {"post_queue_workflow_id": True})
        rt.catalog.collectors.save(USER, APP, removed)
        rt.collect.refresh()
        rt.publish(prediction("p2", color="blue"))
        settle(rt)
        as_is = captured(rt, "p2", "captured")
        assert as_is["annotations"] == [] and as_is["media_type"] == "image"
        assert as_is["sha256"] != row["sha256"]
        assert len(inputs(rt)) == 2


def test_model_thresholder_and_annotation_writer(rt: Runtime, server: ModelServer) -> None:
    key = make_key(rt)
    save_workflow(
        rt,
        {
            "id": "auto-label",
            "nodes": [
                {
                    "id": "clf",
                    "operator": "model",
                    "params": {
                        "url": f"{server.url}/concepts",
                        "headers": {"Authorization": "Key abc"},
                        "model_version_id": "clf-v3",
                    },
                },
                {
                    "id": "thr",
                    "operator": "concept-thresholder",
                    "inputs": ["clf"],
                    "params": {"concepts": {"cat": 0.8, "dog": 0.8}, "concept_threshold_type": ">"},
                },
                {
                    "id": "write",
                    "operator": "annotation-writer",
                    "inputs": ["thr"],
                    "params": {
                        "annotation_status": "ANNOTATION_AWAITING_REVIEW",
                        "annotation_user_id": "labeler",
                        "task_id": "task-1",
                        "annotation_info": {"source": "auto"},
                    },
                },
            ],
        },
    )
    make_collector(rt, "auto", key, post_queue_workflow_id="auto-label", collect_outputs=True)
    rt.publish(prediction("a1", concepts={"tabby": 0.7}))
    settle(rt)
    anns = {a["model_version_id"]: a for a in captured(rt, "a1", "auto")["annotations"]}
    written = anns["clf-v3"]
    assert [c["id"] for c in written["data"]["concepts"]] == ["cat"]
    assert written["status"] == "ANNOTATION_AWAITING_REVIEW"
    assert (written["annotation_user_id"], written["task_id"]) == ("labeler", "task-1")
    assert written["annotation_info"] == {"source": "auto"}
    source = anns[prediction("x").model.version_id]  # collect_outputs: the source model's output
    assert [c["id"] for c in source["data"]["concepts"]] == ["tabby"]
    assert server.headers[-1]["Authorization"] == "Key abc"


@pytest.mark.parametrize(
    ("path", "tries", "words"),
    [
        ("/slow", 3, "did not answer within 0.3 s"),
        ("/error", 3, "HTTP 500"),
        ("/garbage", 1, "21313 MODEL_PREDICTION_FAILED"),
        ("/bad-request", 1, "HTTP 400"),
    ],
)
def test_failing_model_dead_letters_that_capture_only(
    rt: Runtime, server: ModelServer, path: str, tries: int, words: str
) -> None:
    key = make_key(rt)
    save_workflow(rt, model_workflow("flaky", server.url + path, timeout=0.3))
    make_collector(rt, "broken", key, post_queue_workflow_id="flaky")
    make_collector(rt, "plain", key, pre_queue_random_sample=1.0)
    before = server.hits[path]
    rt.publish(prediction(f"f{path[1:]}"))
    rt.publish(prediction(f"g{path[1:]}"))
    settle(rt)
    assert server.hits[path] - before == 2 * tries
    letters = rt.catalog.list_dead_letters()
    assert len(letters) == 2
    for letter in letters:
        assert letter.code is StatusCode.COLLECTOR_POST_INPUT_FAILED and letter.stage == "collect"
        assert words in letter.message and "broken" in letter.message
        assert letter.attempts == tries
        assert letter.event["collector_ids"] == [f"{USER}/{APP}/broken"]
    # The other collector captured both events; the broken one nothing.
    assert len(inputs(rt)) == 2
    captured(rt, f"f{path[1:]}", "plain")

    # Fix the model, replay the dead letter: only that capture is redone.
    save_workflow(rt, model_workflow("flaky", f"{server.url}/caption"))
    rt.collect.refresh()
    seen: list = []
    rt.collect.observe(seen.append)
    rt.publish(PredictionEvent.model_validate(letters[0].event))
    settle(rt)
    assert [o.collector for o in seen[0].outcomes] == [f"{USER}/{APP}/broken"]
    assert len(inputs(rt)) == 3


def test_model_endpoint_on_loopback_needs_model_allow(tmp_path: Path, server: ModelServer) -> None:
    with Runtime.open(local_settings(tmp_path, fetch_allow=["127.0.0.1"])) as rt:
        key = make_key(rt)
        save_workflow(rt, model_workflow("local", f"{server.url}/caption"))
        make_collector(rt, "c", key, post_queue_workflow_id="local")
        before = sum(server.hits.values())
        rt.publish(prediction("l1"))
        settle(rt)
        [letter] = rt.catalog.list_dead_letters()
        assert "INGESTD_MODEL_ALLOW" in letter.message and "30106" in letter.message
        assert sum(server.hits.values()) == before, "the model server must not be called"


def test_empty_model_output_is_not_posted(rt: Runtime, server: ModelServer) -> None:
    key = make_key(rt)
    save_workflow(rt, model_workflow("nothing", f"{server.url}/empty"))
    make_collector(rt, "c", key, post_queue_workflow_id="nothing")
    seen: list = []
    rt.collect.observe(seen.append)
    rt.publish(prediction("n1"))
    settle(rt)
    assert [o.action for o in seen[0].outcomes] == ["dropped"]
    assert "no output" in seen[0].outcomes[0].message
    assert inputs(rt) == []


def test_python_models_registered_and_from_entry_points(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict] = []

    def tagger(item: dict) -> dict:
        calls.append(item)
        return {"concepts": [{"id": "registered", "value": 0.9}]}

    register("tagger", tagger)
    # A package installed the usual way: a dist-info with an ingestd.models entry point.
    pkg = tmp_path / "site"
    (pkg / "fake_models-0.1.dist-info").mkdir(parents=True)
    (pkg / "fake_models-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-models\nVersion: 0.1\n"
    )
    (pkg / "fake_models-0.1.dist-info" / "entry_points.txt").write_text(
        "[ingestd.models]\nshouter = fake_models:shout\n"
    )
    (pkg / "fake_models.py").write_text(
        "def shout(item):\n    return {'text': 'LOUD ' + item['data']['text']['raw']}\n"
    )
    monkeypatch.syspath_prepend(str(pkg))

    key = make_key(rt)
    save_workflow(
        rt,
        {
            "id": "py",
            "nodes": [
                {"id": "a", "operator": "python-model", "params": {"entry_point": "tagger"}},
                {
                    "id": "b",
                    "operator": "python-model",
                    "params": {"entry_point": "shouter", "model_version_id": "s1"},
                },
            ],
        },
    )
    save_workflow(
        rt,
        {
            "id": "missing",
            "nodes": [{"id": "a", "operator": "python-model", "params": {"entry_point": "nobody"}}],
        },
    )
    make_collector(rt, "py", key, post_queue_workflow_id="py")
    make_collector(rt, "missing", key, post_queue_workflow_id="missing")
    event = PredictionEvent(
        event_id="t1",
        caller_user_id="alice",
        model=prediction("x").model,
        input=Text(raw="hello"),
        input_type="text",
    )
    rt.publish(event)
    settle(rt)
    row = captured(rt, "t1", "py")
    assert row["media_type"] == "text"
    by_model = {a["model_version_id"]: a["data"] for a in row["annotations"]}
    assert by_model["tagger"]["concepts"][0]["id"] == "registered"
    assert by_model["s1"]["text"]["raw"] == "LOUD hello"
    assert calls and calls[0]["data"] == {"text": {"raw": "hello"}}
    [letter] = rt.catalog.list_dead_letters()
    assert "no Python model 'nobody'" in letter.message and "shouter" in letter.message
