"""Workflow documents: validation errors name the node and carry 22xxx codes; graphs run."""

from __future__ import annotations

import pytest

from pipeline.collect.operators.datum import Datum, RunContext
from pipeline.collect.workflows.graph import compile_workflow, parse_workflow
from pipeline.errors import InputError
from pipeline.models import Concept
from pipeline.status import StatusCode
from tests.support.collectors import run_context


def ctx(event_id: str = "e") -> RunContext:
    return run_context(event_id, "https://example.com/a.jpg")


def refused(doc: object, code: StatusCode, *words: str) -> str:
    with pytest.raises(InputError) as err:
        parse_workflow(doc)
    assert err.value.code is code, err.value
    for word in words:
        assert word in err.value.message, err.value.message
    return err.value.message


def node(
    nid: str, operator: str = "random-sample", inputs: list[str] | None = None, **params: object
) -> dict:
    out: dict = {"id": nid, "operator": operator, "params": params or {"keep_fraction": 1}}
    if inputs is not None:
        out["inputs"] = inputs
    return out


def test_bad_documents_are_refused_with_clear_codes() -> None:
    refused(["not", "an", "object"], StatusCode.WORKFLOW_UNSUPPORTED_FORMAT, "list")
    refused({"id": "w"}, StatusCode.WORKFLOW_INVALID_ARGUMENT, "nodes")
    refused({"id": "w", "nodes": []}, StatusCode.WORKFLOW_INVALID_ARGUMENT, "no nodes")
    refused(
        {"id": "w/../x", "nodes": [node("a")]}, StatusCode.WORKFLOW_INVALID_ARGUMENT, "not allowed"
    )
    refused(
        {"id": "w", "nodes": [node("a")], "colour": 1},
        StatusCode.WORKFLOW_INVALID_ARGUMENT,
        "colour",
    )
    refused(
        {"id": "w", "nodes": [node("a", "teleporter")]},
        StatusCode.WORKFLOW_INVALID_ARGUMENT,
        "unknown operator 'teleporter'",
        "random-sample",
    )
    refused(
        {"id": "w", "nodes": [node("a", keep_fraction=2)]},
        StatusCode.WORKFLOW_INVALID_ARGUMENT,
        "node 'a' (random-sample)",
        "keep_fraction",
    )
    refused(
        {"id": "w", "nodes": [node("a"), node("a")]}, StatusCode.WORKFLOW_INVALID_GRAPH, "two nodes"
    )
    refused({"id": "w", "nodes": [node("IN")]}, StatusCode.WORKFLOW_INVALID_GRAPH, "reserved")
    refused(
        {"id": "w", "nodes": [node("a"), node("b", inputs=["sampel"])]},
        StatusCode.WORKFLOW_INVALID_GRAPH,
        "node 'b' takes input from 'sampel'",
        "nodes: a, b",
    )
    refused(
        {
            "id": "w",
            "nodes": [node("a", inputs=["c"]), node("b", inputs=["a"]), node("c", inputs=["b"])],
        },
        StatusCode.WORKFLOW_INVALID_GRAPH,
        "cycle",
    )
    message = refused(
        {"id": "w", "nodes": [node("x"), node("a", inputs=["a"])]},
        StatusCode.WORKFLOW_INVALID_GRAPH,
        "cycle",
    )
    assert "a <- a" in message
    refused(
        {"id": "w", "nodes": [node(f"n{i}") for i in range(65)]},
        StatusCode.WORKFLOW_INVALID_ARGUMENT,
        "at most",
    )


def test_platform_spelling_of_inputs_is_accepted() -> None:
    spec = parse_workflow(
        {"id": "w", "nodes": [node("a"), {**node("b"), "node_inputs": [{"node_id": "a"}]}]}
    )
    assert spec.nodes[1].inputs == ["a"]


def workflow(*nodes: dict):
    """The compiled graph of a workflow with these nodes."""
    return compile_workflow(parse_workflow({"id": "w", "nodes": list(nodes)}))


def test_chain_stops_at_first_drop_and_branches_union() -> None:
    chain = workflow(
        node("t", "concept-thresholder", concepts={"cat": 0.5}),
        node("s", "random-sample", inputs=["t"], keep_fraction=1),
    )
    assert chain.sinks == ["s"]
    out = chain.run(Datum(concepts=[Concept(id="cat", value=0.9)]), ctx())
    assert [c.id for c in out[0].concepts] == ["cat"]
    assert chain.run(Datum(concepts=[Concept(id="cat", value=0.1)]), ctx()) == []

    # Two branches from IN, joined: a data point passes when either branch passes.
    branches = workflow(
        node("cats", "concept-thresholder", concepts={"cat": 0.5}),
        node("dogs", "concept-thresholder", concepts={"dog": 0.5}),
        node("join", "random-sample", inputs=["cats", "dogs"], keep_fraction=1),
    )
    both = branches.run(
        Datum(concepts=[Concept(id="cat", value=0.9), Concept(id="dog", value=0.8)]), ctx()
    )
    assert sorted(c.id for c in both[0].concepts) == ["cat", "dog"]
    one = branches.run(Datum(concepts=[Concept(id="dog", value=0.8)]), ctx())
    assert [c.id for c in one[0].concepts] == ["dog"]
    assert branches.run(Datum(concepts=[Concept(id="cow", value=0.8)]), ctx()) == []

    # Declared out of order: it still runs in dependency order; two sinks.
    fork = workflow(
        node("late", "concept-thresholder", inputs=["early"], concepts={"cat": 0.95}),
        node("early", "random-sample", keep_fraction=1),
        node("other", "concept-thresholder", inputs=["early"], concepts={"cat": 0.1}),
    )
    assert [s.node_id for s in fork.steps] == ["early", "late", "other"]
    assert fork.sinks == ["late", "other"]
    assert len(fork.run(Datum(concepts=[Concept(id="cat", value=0.5)]), ctx())) == 1
