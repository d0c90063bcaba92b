"""Concept synonym mapper: rename concepts by following the app's knowledge graph."""

from __future__ import annotations

from pydantic import Field

from pipeline.collect.operators.base import Operator, OperatorParams
from pipeline.collect.operators.datum import Datum, RunContext
from pipeline.errors import InputError
from pipeline.knowledge import KnowledgeGraph, Relation
from pipeline.models import Concept
from pipeline.status import StatusCode


class SynonymMapperParams(OperatorParams):
    relations: list[Relation] = Field(
        default_factory=lambda: [Relation.SYNONYM],
        min_length=1,
        description="Relations followed: synonym (default), hypernym, hyponym.",
    )
    keep_unmapped: bool = Field(default=False, description="Pass concepts that map to nothing.")


class ConceptSynonymMapper(Operator):
    name = "concept-synonym-mapper"
    summary = "map concepts to related concepts of the app's knowledge graph"
    Params = SynonymMapperParams
    p: SynonymMapperParams

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        graph = _graph(ctx)
        concepts = self._map(graph, datum.concepts)
        regions = []
        for region in datum.regions:
            mapped = self._map(graph, region.data.concepts)
            if mapped:
                data = region.data.model_copy(update={"concepts": mapped})
                regions.append(region.model_copy(update={"data": data}))
        if not concepts and not regions:
            return None
        return datum.replace(concepts=concepts, regions=regions)

    def _map(self, graph: KnowledgeGraph, concepts: list[Concept]) -> list[Concept]:
        out: dict[str, float] = {}
        for c in concepts:
            targets = [t for r in self.p.relations for t in graph.related(c.id, r)]
            if not targets and self.p.keep_unmapped:
                targets = [c.id]
            for target in targets:
                out[target] = max(out.get(target, 0.0), c.value)
        return [Concept(id=k, value=v) for k, v in out.items()]


def _graph(ctx: RunContext) -> KnowledgeGraph:
    key = f"knowledge:{ctx.user_id}/{ctx.app_id}"
    graph = ctx.cache.get(key)
    if graph is None:
        if ctx.ports.knowledge is None:
            raise InputError(
                StatusCode.WORKFLOW_INTERNAL_FAILURE,
                "concept synonym mapper needs the app's knowledge graph (catalog)",
            )
        graph = KnowledgeGraph(ctx.ports.knowledge.relations(ctx.user_id, ctx.app_id))
        ctx.cache[key] = graph
    return graph
