"""Metadata filter: keep the data points whose metadata contains the given key/values."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pipeline.collect.operators.base import Operator, OperatorParams
from pipeline.collect.operators.datum import Datum, RunContext


def contains(have: Any, want: Any) -> bool:
    """`want` is a sub-document of `have`: objects match key by key, anything else by equality."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in have and contains(have[k], v) for k, v in want.items()
        )
    return bool(have == want)


class MetadataFilterParams(OperatorParams):
    metadata: dict[str, Any] = Field(min_length=1, description="Key/values the metadata must hold.")
    exclude: bool = Field(default=False, description="Keep those that do NOT match instead.")


class MetadataFilter(Operator):
    name = "metadata-filter"
    summary = "keep the data point when its metadata contains the given key/values"
    Params = MetadataFilterParams
    p: MetadataFilterParams

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        return datum if contains(datum.metadata, self.p.metadata) != self.p.exclude else None
