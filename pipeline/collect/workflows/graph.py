"""A workflow: a graph of operator nodes, validated once and then run per data point.

    id: cats-only
    nodes:
      - {id: sample, operator: random-sample, params: {keep_fraction: 0.1}}
      - id: cats
        operator: concept-thresholder
        inputs: [sample]            # omitted: the node takes the workflow's input (IN)
        params: {concepts: {cat: 0.8}, concept_threshold_type: ">"}

Refused with 22104 (WORKFLOW_INVALID_ARGUMENT): bad fields, unknown operators, bad params;
with 22107 (WORKFLOW_INVALID_GRAPH): duplicate node ids, inputs naming no node, cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import Field, ValidationError, model_validator

from pipeline.collect.operators import OPERATORS
from pipeline.collect.operators.base import Operator
from pipeline.collect.operators.datum import Datum, RunContext, merge
from pipeline.errors import InputError
from pipeline.ids import check_id
from pipeline.models import Strict
from pipeline.status import StatusCode

IN = "IN"
T = TypeVar("T")
_PROBE = Datum()  # what data-blind leading steps are shown; they pass it on or drop it
MAX_NODES = 64
INVALID = StatusCode.WORKFLOW_INVALID_ARGUMENT
BAD_GRAPH = StatusCode.WORKFLOW_INVALID_GRAPH


class Node(Strict):
    id: str = Field(min_length=1, max_length=128)
    operator: str
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: list[str] = Field(
        default_factory=list, description="Node ids whose output it takes; empty: the input (IN)."
    )

    @model_validator(mode="before")
    @classmethod
    def _platform_inputs(cls, value: Any) -> Any:
        # The platform spells inputs `node_inputs: [{"node_id": ...}]`.
        if isinstance(value, dict) and "node_inputs" in value and "inputs" not in value:
            value = dict(value)
            raw = value.pop("node_inputs") or []
            value["inputs"] = [i.get("node_id") if isinstance(i, dict) else i for i in raw]
        return value


class WorkflowSpec(Strict):
    id: str = Field(min_length=1, max_length=128)
    description: str = ""
    nodes: list[Node]


def parse_workflow(doc: Any, workflow_id: str | None = None) -> WorkflowSpec:
    """A validated workflow from its JSON/YAML document, or InputError saying what is wrong."""
    if not isinstance(doc, dict):
        raise InputError(
            StatusCode.WORKFLOW_UNSUPPORTED_FORMAT,
            f"a workflow is an object with id and nodes, not {type(doc).__name__}",
        )
    if workflow_id:
        doc = {**doc, "id": workflow_id}
    try:
        spec = WorkflowSpec.model_validate(doc)
    except ValidationError as exc:
        raise InputError(INVALID, f"workflow: {_errors(exc)}") from None
    _check_id(spec.id, "workflow id")
    compile_workflow(spec)
    return spec


@dataclass(frozen=True)
class Step:
    node_id: str
    operator: Operator
    inputs: tuple[str, ...]


class CompiledWorkflow:
    """Steps in dependency order; `run` gives the outputs of the sink nodes still present."""

    def __init__(self, spec: WorkflowSpec, steps: list[Step], sinks: list[str]) -> None:
        self.spec = spec
        self.id = spec.id
        self.steps = steps
        self.sinks = sinks
        self._chain = (
            all(len(s.inputs) == 1 for s in steps)
            and len(sinks) == 1
            and all(s.inputs[0] == (steps[n - 1].node_id if n else IN) for n, s in enumerate(steps))
        )
        self._blind = 0  # leading steps that do not read the data point
        while self._blind < len(steps) and not steps[self._blind].operator.reads_data:
            self._blind += 1
        self._blind_steps, self._seeing_steps = steps[: self._blind], steps[self._blind :]

    def run_lazily(self, make: Callable[[T], Datum], source: T, ctx: RunContext) -> list[Datum]:
        """`run(make(source), ctx)`, but leading samplers decide first: a dropped event costs
        no data point at all (most events, when sampling is the first node)."""
        if self._chain and self._blind:
            for step in self._blind_steps:
                if step.operator.run(_PROBE, ctx) is None:
                    return []
            return _run_line(self._seeing_steps, make(source), ctx)
        return self.run(make(source), ctx)

    def run(self, datum: Datum, ctx: RunContext) -> list[Datum]:
        if self._chain:  # the common shape: a straight line, stopped by the first drop
            return _run_line(self.steps, datum, ctx)
        values: dict[str, Datum | None] = {IN: datum}
        for step in self.steps:
            present = [v for i in step.inputs if (v := values[i]) is not None]
            values[step.node_id] = step.operator.run(merge(present), ctx) if present else None
        return [v for s in self.sinks if (v := values[s]) is not None]


def _run_line(steps: list[Step], datum: Datum, ctx: RunContext) -> list[Datum]:
    """Steps one after another; the first that drops the data point ends the run."""
    for step in steps:
        passed = step.operator.run(datum, ctx)
        if passed is None:
            return []
        datum = passed
    return [datum]


def compile_workflow(spec: WorkflowSpec) -> CompiledWorkflow:
    """Check the graph and each node's params; InputError (22104/22107) names the node."""
    if not spec.nodes:
        raise InputError(INVALID, f"workflow {spec.id!r} has no nodes")
    if len(spec.nodes) > MAX_NODES:
        raise InputError(
            INVALID, f"workflow {spec.id!r} has {len(spec.nodes)} nodes; at most {MAX_NODES}"
        )
    ids: list[str] = []
    for node in spec.nodes:
        _check_id(node.id, "node id")
        if node.id == IN:
            raise InputError(BAD_GRAPH, f"node id {IN!r} is reserved for the workflow's input")
        if node.id in ids:
            raise InputError(BAD_GRAPH, f"two nodes are called {node.id!r}; node ids must differ")
        ids.append(node.id)
    operators = {node.id: _operator(node) for node in spec.nodes}
    inputs: dict[str, tuple[str, ...]] = {}
    for node in spec.nodes:
        wanted = tuple(dict.fromkeys(node.inputs)) or (IN,)
        for source in wanted:
            if source != IN and source not in operators:
                raise InputError(
                    BAD_GRAPH,
                    f"node {node.id!r} takes input from {source!r}, which is not a node of "
                    f"workflow {spec.id!r} (nodes: {', '.join(ids)}; {IN} is the input)",
                )
        inputs[node.id] = wanted
    order = _topological(ids, inputs, spec.id)
    consumed = {s for node_inputs in inputs.values() for s in node_inputs}
    steps = [Step(n, operators[n], inputs[n]) for n in order]
    return CompiledWorkflow(spec, steps, [n for n in order if n not in consumed])


def _operator(node: Node) -> Operator:
    kind = OPERATORS.get(node.operator)
    if kind is None:
        raise InputError(
            INVALID,
            f"node {node.id!r}: unknown operator {node.operator!r}; known: {', '.join(OPERATORS)}",
        )
    try:
        params = kind.Params.model_validate(node.params)
    except ValidationError as exc:
        raise InputError(INVALID, f"node {node.id!r} ({node.operator}): {_errors(exc)}") from None
    return kind(node.id, params)


def _topological(ids: list[str], inputs: dict[str, tuple[str, ...]], wf: str) -> list[str]:
    """Kahn's algorithm in declaration order; a cycle is reported as the path it takes."""
    waiting = {n: {s for s in inputs[n] if s != IN} for n in ids}
    order: list[str] = []
    while len(order) < len(ids):
        ready = [n for n in ids if n not in order and not waiting[n]]
        if not ready:
            raise InputError(BAD_GRAPH, f"workflow {wf!r} has a cycle: {_cycle(waiting)}")
        for n in ready:
            order.append(n)
            for deps in waiting.values():
                deps.discard(n)
    return order


def _cycle(waiting: dict[str, set[str]]) -> str:
    start = next(n for n, deps in waiting.items() if deps)
    path = [start]
    while True:
        nxt = sorted(waiting[path[-1]])[0]
        if nxt in path:
            loop = path[path.index(nxt) :] + [nxt]
            return " <- ".join(loop)
        path.append(nxt)


def _check_id(value: str, what: str) -> None:
    try:
        check_id(value, what)
    except InputError as exc:
        raise InputError(INVALID, exc.message) from None


def _errors(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:3]:
        where = ".".join(str(p) for p in e["loc"])
        parts.append(f"{where}: {e['msg']}" if where else e["msg"])
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more
