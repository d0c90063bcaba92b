"""The contract of a workflow operator: validated params, one `run` per data point."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict

from pipeline.collect.operators.datum import Datum, RunContext
from pipeline.models import Strict


class OperatorParams(Strict):
    """Base of every operator's params: unknown keys are refused; params never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Operator:
    """A node's behaviour. `run` returns the data point it passes on, or None to drop it."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[OperatorParams]]
    reads_data: ClassVar[bool] = True
    """False: it decides without looking at the data point and passes it on unchanged
    (sampling, quotas), so a workflow can run it before the data point is even built."""
    p: Any

    def __init__(self, node_id: str, params: Any) -> None:
        self.node_id = node_id
        self.p = params

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        raise NotImplementedError
