"""Sampling: random sample, detections count, and quotas shared by every worker.

The random draw is derived from the event id (and the collector, workflow, node and seed),
so it is uniform over events yet the same on every replay and on every worker: a replayed
event is kept or dropped exactly as the first time.
"""

from __future__ import annotations

import hashlib

from pydantic import Field, model_validator

from pipeline.collect.operators.base import Operator, OperatorParams
from pipeline.collect.operators.datum import Datum, RunContext
from pipeline.errors import InputError
from pipeline.status import StatusCode

_TWO_64 = float(2**64)


class Draws:
    """Uniform draws in [0, 1) keyed by a fixed context plus the event id.

    blake2b of (context, event id): the same event always draws the same number, on every
    worker and every replay, while distinct events draw independently. The hash state of
    the context is computed once, so a draw costs one copy and one update.
    """

    def __init__(self, *context: str) -> None:
        self._base = hashlib.blake2b(("\x1f".join(context) + "\x1f").encode(), digest_size=8)

    def draw(self, event_id: str) -> float:
        h = self._base.copy()
        h.update(event_id.encode())
        return int.from_bytes(h.digest(), "big") / _TWO_64

    def keep(self, keep_fraction: float, event_id: str) -> bool:
        """The platform's rule: keep when keep_fraction > a uniform random draw."""
        return keep_fraction > self.draw(event_id)


class RandomSampleParams(OperatorParams):
    keep_fraction: float = Field(ge=0.0, le=1.0, description="Fraction of inputs to keep.")
    seed: str | int = Field(default="", description="Another seed draws another sample.")


class RandomSample(Operator):
    name = "random-sample"
    summary = "keep each input when keep_fraction > a uniform draw (seedable, replay-stable)"
    Params = RandomSampleParams
    reads_data = False
    p: RandomSampleParams

    def __init__(self, node_id: str, params: RandomSampleParams) -> None:
        super().__init__(node_id, params)
        self._draws: dict[tuple[str, str], Draws] = {}

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        where = (ctx.collector_id, ctx.workflow_id)
        draws = self._draws.get(where)
        if draws is None:  # one per collector running this workflow: they sample apart
            draws = self._draws[where] = Draws(str(self.p.seed), *where, self.node_id)
        return datum if draws.keep(self.p.keep_fraction, ctx.event_id) else None


class DetectionsCountParams(OperatorParams):
    more_than: int | None = Field(default=None, ge=0)
    less_than: int | None = Field(default=None, ge=1)
    concepts: list[str] = Field(
        default_factory=list, description="Count only regions with one of these concepts."
    )
    min_value: float = Field(
        default=0.0, ge=0.0, le=1.0, description="A region counts when its concept reaches this."
    )

    @model_validator(mode="after")
    def _bounds(self) -> DetectionsCountParams:
        if self.more_than is None and self.less_than is None:
            raise ValueError("give more_than, less_than or both")
        if (
            self.more_than is not None
            and self.less_than is not None
            and self.less_than <= self.more_than + 1
        ):
            raise ValueError(
                f"no count is more than {self.more_than} and less than {self.less_than}"
            )
        return self


class DetectionsCount(Operator):
    name = "detections-count"
    summary = "keep the data point when its number of regions is > more_than and/or < less_than"
    Params = DetectionsCountParams
    p: DetectionsCountParams

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        wanted, floor = set(self.p.concepts), self.p.min_value
        if not wanted and floor == 0.0:
            count = len(datum.regions)
        else:
            count = sum(
                1
                for region in datum.regions
                if any(
                    c.value >= floor and (not wanted or c.id in wanted)
                    for c in region.data.concepts
                )
            )
        if self.p.more_than is not None and not count > self.p.more_than:
            return None
        if self.p.less_than is not None and not count < self.p.less_than:
            return None
        return datum


WINDOWS = {"per_minute": ("minute", 60), "per_hour": ("hour", 3600), "per_day": ("day", 86400)}


class QuotaParams(OperatorParams):
    per_minute: int | None = Field(default=None, ge=1)
    per_hour: int | None = Field(default=None, ge=1)
    per_day: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _some(self) -> QuotaParams:
        if self.per_minute is None and self.per_hour is None and self.per_day is None:
            raise ValueError("give per_minute, per_hour and/or per_day")
        return self


class Quota(Operator):
    name = "quota"
    summary = "pass at most N inputs per minute/hour/day per collector, counted across workers"
    Params = QuotaParams
    reads_data = False
    p: QuotaParams

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        if ctx.ports.quotas is None:
            raise InputError(
                StatusCode.WORKFLOW_INTERNAL_FAILURE, "quota operator needs the catalog's counters"
            )
        windows = [
            (name, seconds, limit)
            for field, (name, seconds) in WINDOWS.items()
            if (limit := getattr(self.p, field)) is not None
        ]
        scope = "/".join((ctx.user_id, ctx.app_id, ctx.collector_id, ctx.workflow_id, self.node_id))
        taken = ctx.ports.quotas.take(scope, ctx.event_id, windows, ctx.now())
        return datum if taken else None
