"""What flows between the nodes of a workflow, and what an operator may reach while it runs.

A `Datum` is one data point: a model's concepts, regions and text, the input's metadata and
the annotations writers have made. Operators never change a Datum in place (branches share
them); they return a new one, the same one, or None when they drop the data point.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.models import Annotation, Concept, Media, Region, Text


@dataclass(slots=True)
class Datum:
    concepts: list[Concept] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    annotations: list[Annotation] = field(default_factory=list)
    model_version_id: str | None = None
    """Which model produced the concepts, regions and text (for attributing annotations)."""
    written: bool = False
    """True once an annotation writer has turned the predictions into annotations."""

    def replace(self, **changes: Any) -> Datum:
        return dataclasses.replace(self, **changes)

    # Fast paths of `replace` for the filters (dataclasses.replace costs several µs).
    def with_concepts(self, concepts: list[Concept]) -> Datum:
        return Datum(
            concepts,
            self.regions,
            self.text,
            self.metadata,
            self.annotations,
            self.model_version_id,
            self.written,
        )

    def with_regions(self, regions: list[Region]) -> Datum:
        return Datum(
            self.concepts,
            regions,
            self.text,
            self.metadata,
            self.annotations,
            self.model_version_id,
            self.written,
        )

    def has_output(self) -> bool:
        """A workflow output with any non-empty field (metadata is the input's own)."""
        return bool(self.concepts or self.regions or self.text or self.annotations)

    def values(self) -> list[float]:
        """Every probability of the data point: its concepts' and its regions' concepts'."""
        out = [c.value for c in self.concepts]
        for region in self.regions:
            out.extend(c.value for c in region.data.concepts)
        return out


def merge(items: list[Datum]) -> Datum:
    """Several inputs of one node become one data point: concepts by id (highest value)."""
    if len(items) == 1:
        return items[0]
    concepts: dict[str, Concept] = {}
    regions: list[Region] = []
    seen_regions: set[str] = set()
    metadata: dict[str, Any] = {}
    annotations: list[Annotation] = []
    for item in items:
        for c in item.concepts:
            if c.id not in concepts or concepts[c.id].value < c.value:
                concepts[c.id] = c
        for r in item.regions:
            if r.id is None or r.id not in seen_regions:
                regions.append(r)
                if r.id is not None:
                    seen_regions.add(r.id)
        metadata.update(item.metadata)
        annotations.extend(a for a in item.annotations if a not in annotations)
    return Datum(
        concepts=list(concepts.values()),
        regions=regions,
        text=next((i.text for i in items if i.text), None),
        metadata=metadata,
        annotations=annotations,
        model_version_id=next((i.model_version_id for i in items if i.model_version_id), None),
        written=all(i.written for i in items),
    )


class QuotaPort(Protocol):
    def take(
        self, scope: str, event_id: str, windows: list[tuple[str, int, int]], now: float
    ) -> bool:
        """Take one unit in every (name, seconds, limit) window, atomically; False when full."""
        ...


class KnowledgePort(Protocol):
    def relations(self, user_id: str, app_id: str) -> list[tuple[str, str, str]]:
        """The app's concept relations as (subject, predicate, object)."""
        ...


class InferencePort(Protocol):
    def post_json(
        self, url: str, body: dict[str, Any], *, timeout: float, headers: dict[str, str]
    ) -> Any:
        """POST JSON to a model endpoint and return its parsed JSON answer."""
        ...


class PythonModelsPort(Protocol):
    def load(self, name: str) -> Callable[[dict[str, Any]], Any]:
        """The in-process model registered under `name`."""
        ...


@dataclass
class Ports:
    """The outside world an operator may need; None where this process has none."""

    quotas: QuotaPort | None = None
    knowledge: KnowledgePort | None = None
    inference: InferencePort | None = None
    python_models: PythonModelsPort | None = None
    media: Callable[[str], bytes] | None = None
    """Bytes of a blob-store key (inputs that travel as a claim check)."""


@dataclass(slots=True)
class RunContext:
    """One run of one workflow for one collector and one prediction event."""

    event_id: str
    user_id: str
    app_id: str
    collector_id: str
    workflow_id: str
    input_type: str
    input: Media | Text
    ports: Ports
    now: Callable[[], float]
    cache: dict[str, Any] = field(default_factory=dict)
    """Per-event memo (e.g. the model request body, built once for several model nodes)."""
