"""The collect stage end to end on the embedded bus: prediction events in, captured inputs out."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ingestd.app.runtime import Runtime
from pipeline.collect.capture import capture_ids
from pipeline.collect.collectors import CollectorStatus, patched
from pipeline.collect.stage import CollectResult
from pipeline.events import ModelRef
from pipeline.keys import Scope
from pipeline.status import StatusCode
from tests.support.collectors import (
    APP,
    MODEL,
    USER,
    inputs,
    make_collector,
    make_key,
    prediction,
    save_workflow,
    settle,
)

CATS = {
    "id": "cats",
    "nodes": [
        {"id": "sample", "operator": "random-sample", "params": {"keep_fraction": 1}},
        {
            "id": "thr",
            "operator": "concept-thresholder",
            "inputs": ["sample"],
            "params": {"concepts": {"cat": 0.8}, "concept_threshold_type": ">"},
        },
    ],
}


def run(rt: Runtime, *events) -> list[CollectResult]:
    seen: list[CollectResult] = []
    rt.collect.observe(seen.append)
    for event in events:
        rt.publish(event)
    settle(rt)
    return seen


def test_captures_filtered_predictions_into_the_app_once(runtime: Runtime) -> None:
    key = make_key(runtime)
    save_workflow(runtime, CATS)
    collector = make_collector(
        runtime,
        "c1",
        key,
        pre_queue_workflow_id="cats",
        collect_outputs=True,
        dataset_id="collected",
        caller_user_id="alice",
    )
    other_version = MODEL.model_copy(update={"version_id": "other"})
    other_model = MODEL.model_copy(update={"model_id": "face-detector"})
    results = run(
        runtime,
        prediction("e1", concepts={"cat": 0.9, "dog": 0.3}, metadata={"shop": 7}),
        prediction("e2", concepts={"cat": 0.8}),  # not > 0.8: dropped
        prediction("e3", caller="bob", concepts={"cat": 0.99}),  # another caller
        prediction("e4", concepts={"cat": 0.99}, model=other_version),
        prediction("e5", concepts={"cat": 0.99}, model=other_model),
    )
    by_event = {r.event_id: r.outcomes for r in results}
    assert [o.action for o in by_event["e1"]] == ["captured"]
    assert [o.action for o in by_event["e2"]] == ["dropped"]
    for unmatched in ("e3", "e4", "e5"):
        assert [o.code for o in by_event[unmatched]] == [StatusCode.COLLECTOR_MISSING]

    stored = inputs(runtime)
    _, input_id = capture_ids("e1", f"{USER}/{APP}/{collector.id}")
    assert [r["id"] for r in stored] == [input_id]
    row = runtime.catalog.get_input(USER, APP, input_id)
    assert row is not None and row["status_code"] == StatusCode.INPUT_SUCCESS
    assert row["dataset_ids"] == ["collected"] and row["metadata"] == {"shop": 7}
    [ann] = row["annotations"]
    assert ann["model_version_id"] == MODEL.version_id
    # The outputs as they leave the pre-queue workflow: dog was filtered out.
    assert [c["id"] for c in ann["data"]["concepts"]] == ["cat"]

    # A replay (at-least-once delivery) captures nothing twice.
    again = run(runtime, prediction("e1", concepts={"cat": 0.9, "dog": 0.3}, metadata={"shop": 7}))
    assert [o.action for o in again[-1].outcomes] == ["captured"]
    assert len(inputs(runtime)) == 1
    row2 = runtime.catalog.get_input(USER, APP, input_id)
    assert row2 is not None and len(row2["annotations"]) == 1
    assert row2["modified_at"] == row["modified_at"]


def test_inactive_collectors_are_skipped_with_52002(
    embedded: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    key = make_key(embedded)
    make_collector(embedded, "sleepy", key, pre_queue_random_sample=1.0, status="inactive")
    make_collector(embedded, "awake", key, pre_queue_random_sample=1.0)
    with caplog.at_level("INFO", logger="pipeline.collect.stage"):
        [result] = run(embedded, prediction("e1"))
    outcomes = {o.collector.rsplit("/", 1)[1]: o for o in result.outcomes}
    assert outcomes["sleepy"].code is StatusCode.COLLECTOR_INACTIVE
    assert outcomes["sleepy"].action == "skipped"
    assert outcomes["awake"].action == "captured"
    assert "52002 COLLECTOR_INACTIVE" in caplog.text
    assert len(inputs(embedded)) == 1

    embedded.catalog.collectors.set_status(USER, APP, ["sleepy"], CollectorStatus.ACTIVE)
    embedded.collect.refresh()
    [result] = run(embedded, prediction("e2"))
    assert sorted(o.action for o in result.outcomes) == ["captured", "captured"]
    assert len(inputs(embedded)) == 3


def test_every_matching_collector_fires_once_and_blank_fields_match_all(embedded: Runtime) -> None:
    key = make_key(embedded)
    make_collector(embedded, "everyone", key, pre_queue_random_sample=1.0)
    make_collector(embedded, "alice-only", key, pre_queue_random_sample=1.0, caller_user_id="alice")
    any_version = make_collector(embedded, "any-version", key, pre_queue_random_sample=1.0)
    # Remove the version: the collector then watches every version of the model.
    gone = {
        "collector_source": {"api_post_model_outputs_collector_source": {"model_version_id": True}}
    }
    embedded.catalog.collectors.save(USER, APP, patched(any_version, "remove", gone))
    embedded.collect.refresh()
    v2 = MODEL.model_copy(update={"version_id": "v2"})
    results = run(
        embedded, prediction("a", caller="alice"), prediction("b", caller="bob", model=v2)
    )
    fired = {r.event_id: sorted(o.collector.rsplit("/", 1)[1] for o in r.outcomes) for r in results}
    assert fired == {"a": ["alice-only", "any-version", "everyone"], "b": ["any-version"]}
    assert len(inputs(embedded)) == 4


def test_collector_problems_are_reported_and_others_keep_flowing(embedded: Runtime) -> None:
    good = make_key(embedded)
    weak = make_key(embedded, [Scope.GET_INPUTS, Scope.POST_INPUTS])
    make_collector(embedded, "ok", good, pre_queue_random_sample=1.0)
    make_collector(embedded, "weak", weak, pre_queue_random_sample=1.0)
    # The key loses its scope after the collector was made: captures are refused with 11007.
    with embedded.catalog.begin() as conn:
        from connectors.catalog.collectors_tables import api_keys

        conn.execute(api_keys.update().where(api_keys.c.id == weak).values(scopes=["GetInputs"]))
    embedded.collect.refresh()
    [result] = run(embedded, prediction("e1"))
    codes = {o.collector.rsplit("/", 1)[1]: o.code for o in result.outcomes}
    assert codes == {"ok": StatusCode.SUCCESS, "weak": StatusCode.CONN_INSUFFICIENT_SCOPES}
    assert len(inputs(embedded)) == 1


def test_sampling_rate_matches_keep_fraction_and_replays_agree(embedded: Runtime) -> None:
    key = make_key(embedded)
    save_workflow(
        embedded,
        {
            "id": "tenth",
            "nodes": [
                {
                    "id": "s",
                    "operator": "random-sample",
                    "params": {"keep_fraction": 0.1, "seed": 3},
                }
            ],
        },
    )
    make_collector(embedded, "c", key, pre_queue_workflow_id="tenth")
    stage = embedded.collect
    n = 5000
    events = [prediction(f"ev-{i}", concepts={"cat": 0.5}, color="blue") for i in range(n)]
    first = [stage.handle(e) for e in events]
    kept = sum(1 for r in first if r.follow_ups)
    assert abs(kept - 0.1 * n) < 5 * (n * 0.1 * 0.9) ** 0.5
    second = [stage.handle(e) for e in events]
    assert [bool(r.follow_ups) for r in second] == [bool(r.follow_ups) for r in first]
    assert [r.follow_ups[0].request_id for r in second if r.follow_ups] == [
        r.follow_ups[0].request_id for r in first if r.follow_ups
    ]


def test_malformed_input_type_dead_letters_the_event(embedded: Runtime) -> None:
    key = make_key(embedded)
    make_collector(embedded, "c", key, pre_queue_random_sample=1.0)
    run(embedded, prediction("weird", input_type="hologram"))
    [letter] = embedded.catalog.list_dead_letters()
    assert letter.code is StatusCode.INPUT_UNSUPPORTED_FORMAT and "hologram" in letter.message
    assert letter.stage == "collect" and letter.event_id == "weird"
    assert inputs(embedded) == []


def test_other_app_sees_nothing_and_model_ref_is_exact(embedded: Runtime) -> None:
    key = make_key(embedded)
    make_collector(embedded, "c", key, pre_queue_random_sample=1.0)
    wrong_user = ModelRef(
        user_id="someone", app_id=MODEL.app_id, model_id=MODEL.model_id, version_id=MODEL.version_id
    )
    [result] = run(embedded, prediction("x", model=wrong_user))
    assert result.outcomes[0].code is StatusCode.COLLECTOR_MISSING
    assert inputs(embedded) == [] and inputs(embedded, "other") == []


def test_synonym_mapper_uses_the_apps_knowledge_graph(embedded: Runtime) -> None:

    knowledge = embedded.catalog.knowledge
    knowledge.add(USER, APP, "kitty", "synonym", "tabby")
    key = make_key(embedded)
    save_workflow(
        embedded,
        {
            "id": "to-custom",
            "nodes": [{"id": "map", "operator": "concept-synonym-mapper", "params": {}}],
        },
    )
    make_collector(embedded, "mapped", key, pre_queue_workflow_id="to-custom", collect_outputs=True)
    results = run(
        embedded, prediction("m1", concepts={"tabby": 0.8}), prediction("m2", concepts={"car": 0.9})
    )
    assert {r.event_id: r.outcomes[0].action for r in results} == {
        "m1": "captured",
        "m2": "dropped",
    }
    row = embedded.catalog.get_input(USER, APP, capture_ids("m1", f"{USER}/{APP}/mapped")[1])
    assert row is not None
    assert [c["id"] for c in row["annotations"][0]["data"]["concepts"]] == ["kitty"]
    # A relation added later is seen after the stage's next reload.
    knowledge.add(USER, APP, "car", "synonym", "automobile")
    embedded.collect.refresh()
    [again] = run(embedded, prediction("m3", concepts={"car": 0.9}))
    assert again.outcomes[0].action == "captured"


def test_hostile_event_ids_are_refused(embedded: Runtime) -> None:
    key = make_key(embedded)
    make_collector(embedded, "c", key, pre_queue_random_sample=1.0)
    # Over 64 characters the event itself does not parse (the catalog keeps 64) ...
    with pytest.raises(ValidationError, match="at most 64 characters"):
        prediction("x" * 65)
    # ... and the stage refuses what parses but is not printable.
    run(embedded, prediction("bad\nid"))
    letters = embedded.catalog.list_dead_letters()
    assert len(letters) == 1
    assert all(d.code is StatusCode.CONN_INVALID_REQUEST for d in letters)
    assert inputs(embedded) == []
