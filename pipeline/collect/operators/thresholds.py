"""Filters on probabilities: concept and region thresholders, max/min probability, near-threshold.

Threshold types are the platform's: GREATER_THAN (>), GREATER_THAN_OR_EQUAL (>=), EQUAL (=),
NOT_EQUAL (!=), LESS_THAN (<), LESS_THAN_OR_EQUAL (<=); either spelling is accepted.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from pipeline.collect.operators.base import Operator, OperatorParams
from pipeline.collect.operators.datum import Datum, RunContext
from pipeline.models import Concept, Region


class ThresholdType(StrEnum):
    GREATER_THAN = "GREATER_THAN"
    GREATER_THAN_OR_EQUAL = "GREATER_THAN_OR_EQUAL"
    EQUAL = "EQUAL"
    NOT_EQUAL = "NOT_EQUAL"
    LESS_THAN = "LESS_THAN"
    LESS_THAN_OR_EQUAL = "LESS_THAN_OR_EQUAL"


_SYMBOLS = {
    ">": ThresholdType.GREATER_THAN,
    ">=": ThresholdType.GREATER_THAN_OR_EQUAL,
    "=": ThresholdType.EQUAL,
    "==": ThresholdType.EQUAL,
    "!=": ThresholdType.NOT_EQUAL,
    "<": ThresholdType.LESS_THAN,
    "<=": ThresholdType.LESS_THAN_OR_EQUAL,
}
COMPARE: dict[ThresholdType, Callable[[float, float], bool]] = {
    ThresholdType.GREATER_THAN: operator.gt,
    ThresholdType.GREATER_THAN_OR_EQUAL: operator.ge,
    ThresholdType.EQUAL: operator.eq,
    ThresholdType.NOT_EQUAL: operator.ne,
    ThresholdType.LESS_THAN: operator.lt,
    ThresholdType.LESS_THAN_OR_EQUAL: operator.le,
}

Probability = Field(ge=0.0, le=1.0)


class ThresholderParams(OperatorParams):
    concepts: dict[str, float] = Field(
        default_factory=dict, description="Concept id -> its threshold."
    )
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Threshold of concepts not listed; when absent, unlisted concepts are dropped.",
    )
    concept_threshold_type: ThresholdType = ThresholdType.GREATER_THAN

    @field_validator("concepts", mode="before")
    @classmethod
    def _concept_list(cls, value: Any) -> Any:
        # The platform's shape: [{"id": "cat", "value": 0.8}, ...]
        if isinstance(value, list):
            try:
                return {c["id"]: c["value"] for c in value}
            except (TypeError, KeyError) as exc:
                raise ValueError('concepts: give {"id": threshold} or [{"id", "value"}]') from exc
        return value

    @field_validator("concepts")
    @classmethod
    def _in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for concept_id, threshold in value.items():
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold of {concept_id!r} must be within 0..1")
        return value

    @field_validator("concept_threshold_type", mode="before")
    @classmethod
    def _symbol(cls, value: Any) -> Any:
        return _SYMBOLS.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _something(self) -> ThresholderParams:
        if not self.concepts and self.threshold is None:
            raise ValueError("give per-concept thresholds (concepts) or a threshold for all")
        return self


def _keeper(p: ThresholderParams) -> Callable[[list[Concept]], list[Concept]]:
    compare = COMPARE[p.concept_threshold_type]
    per_concept, default = p.concepts, p.threshold

    if default is None:  # only the listed concepts can pass: test membership first

        def keep(concepts: list[Concept]) -> list[Concept]:
            return [
                c for c in concepts if c.id in per_concept and compare(c.value, per_concept[c.id])
            ]

        return keep

    get = per_concept.get

    def keep_all(concepts: list[Concept]) -> list[Concept]:
        return [c for c in concepts if compare(c.value, get(c.id, default))]

    return keep_all


class _Thresholder(Operator):
    """What both thresholders share: the params and the concept filter built from them."""

    Params = ThresholderParams
    p: ThresholderParams

    def __init__(self, node_id: str, params: ThresholderParams) -> None:
        super().__init__(node_id, params)
        self._keep = _keeper(params)


class ConceptThresholder(_Thresholder):
    name = "concept-thresholder"
    summary = "keep concepts passing their threshold; drop the data point if none is left"

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        kept = self._keep(datum.concepts)
        if not kept:
            return None
        return datum if len(kept) == len(datum.concepts) else datum.with_concepts(kept)


class RegionThresholder(_Thresholder):
    name = "region-thresholder"
    summary = "keep region concepts passing their threshold; drop empty regions, then the point"

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        regions: list[Region] = []
        for region in datum.regions:
            kept = self._keep(region.data.concepts)
            if not kept:
                continue
            if len(kept) != len(region.data.concepts):
                data = region.data.model_copy(update={"concepts": kept})
                region = region.model_copy(update={"data": data})
            regions.append(region)
        return datum.with_regions(regions) if regions else None


class SelectedParams(OperatorParams):
    threshold: float = Probability
    concepts: list[str] = Field(
        default_factory=list,
        description="Only these concepts (a missing one counts as 0); all when empty.",
    )


def _selected(datum: Datum, concepts: list[str]) -> list[float]:
    if not concepts:
        return datum.values() or [0.0]
    best = dict.fromkeys(concepts, 0.0)
    for c in [*datum.concepts, *(c for r in datum.regions for c in r.data.concepts)]:
        if c.id in best and c.value > best[c.id]:
            best[c.id] = c.value
    return list(best.values())


class MaxProbabilityBelow(Operator):
    name = "max-probability-below"
    summary = "keep the data point when its highest probability is below the threshold"
    Params = SelectedParams
    p: SelectedParams

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        return datum if max(_selected(datum, self.p.concepts)) < self.p.threshold else None


class MinProbabilityAbove(Operator):
    name = "min-probability-above"
    summary = "keep the data point when its lowest probability is above the threshold"
    Params = SelectedParams
    p: SelectedParams

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        return datum if min(_selected(datum, self.p.concepts)) > self.p.threshold else None


class CloseToThresholdParams(SelectedParams):
    epsilon: float = Field(gt=0.0, le=1.0)


class CloseToThreshold(Operator):
    name = "close-to-threshold"
    summary = "keep the data point when a probability is within threshold +- epsilon"
    Params = CloseToThresholdParams
    p: CloseToThresholdParams

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        low, high = self.p.threshold - self.p.epsilon, self.p.threshold + self.p.epsilon
        values = _selected(datum, self.p.concepts) if self.p.concepts else datum.values()
        return datum if any(low <= v <= high for v in values) else None
