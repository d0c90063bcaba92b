"""Which collectors watch which model: the compiled, in-memory view the collect stage matches on.

The stage reloads it from the catalog every few seconds, never per event, so matching a
prediction costs a dictionary lookup. Problems found while loading (a deleted key, a
missing workflow) are kept on the collector and reported on each event it would collect.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.collect.collectors import Collector, check_key
from pipeline.collect.operators.sampling import Draws
from pipeline.collect.ports import CollectorSnapshot
from pipeline.collect.workflows.graph import CompiledWorkflow, compile_workflow, parse_workflow
from pipeline.errors import InputError
from pipeline.events import PredictionEvent
from pipeline.status import StatusCode

MEMO_SIZE = 100_000


@dataclass
class ArmedCollector:
    """A collector ready to run: its workflows compiled, or the problem that stops it."""

    user_id: str
    app_id: str
    collector: Collector
    pre_queue: CompiledWorkflow | None = None
    post_queue: CompiledWorkflow | None = None
    problem: InputError | None = None
    key: str = ""
    """user/app/collector id: unique over every app."""
    pre_dropped: str = ""
    """The outcome message of an event the pre-queue workflow drops (made once)."""

    def __post_init__(self) -> None:
        # Read on every event: kept as plain attributes rather than derived each time.
        self.key = f"{self.user_id}/{self.app_id}/{self.collector.id}"
        self.version = self.collector.source.model_version_id
        self.caller = self.collector.source.caller_user_id
        self.ready = self.collector.active and self.problem is None
        self.sample = Draws("collector", self.key)


class CollectorIndex:
    """Collectors by source model (user, app, model id)."""

    def __init__(self, snapshot: CollectorSnapshot) -> None:
        self._by_model: dict[tuple[str, str, str], list[ArmedCollector]] = {}
        # (model user, app, id, version, caller) -> matches: most traffic repeats a few.
        self._memo: dict[tuple[str, str, str, str, str], list[ArmedCollector]] = {}
        self.size = 0
        for user_id, app_id, collector in snapshot.collectors:
            armed = _arm(user_id, app_id, collector, snapshot)
            s = collector.source
            self._by_model.setdefault((s.model_user_id, s.model_app_id, s.model_id), []).append(
                armed
            )
            self.size += 1

    def match(self, event: PredictionEvent) -> list[ArmedCollector]:
        """Collectors whose source is this model version and caller (active or not)."""
        m = event.model
        where = (m.user_id, m.app_id, m.model_id, m.version_id, event.caller_user_id)
        found = self._memo.get(where)
        if found is None:
            found = self._find(where)
            if len(self._memo) < MEMO_SIZE:
                self._memo[where] = found
        if event.collector_ids:  # a replayed capture: only the collectors it names
            found = [a for a in found if a.key in event.collector_ids]
        return found

    def _find(self, where: tuple[str, str, str, str, str]) -> list[ArmedCollector]:
        user_id, app_id, model_id, version, caller = where
        return [
            a
            for a in self._by_model.get((user_id, app_id, model_id), ())
            if (not a.version or a.version == version) and (not a.caller or a.caller == caller)
        ]


def _arm(
    user_id: str, app_id: str, collector: Collector, snap: CollectorSnapshot
) -> ArmedCollector:
    armed = ArmedCollector(user_id, app_id, collector)
    try:
        key_id = collector.source.post_inputs_key_id
        check_key(snap.keys.get(key_id), key_id, user_id, app_id)
        armed.pre_queue = _workflow(user_id, app_id, collector.pre_queue_workflow_id, snap)
        armed.post_queue = _workflow(user_id, app_id, collector.post_queue_workflow_id, snap)
    except InputError as exc:
        armed.problem = exc
        armed.ready = False
    if armed.pre_queue is not None:
        armed.pre_dropped = f"not captured: dropped by pre-queue workflow {armed.pre_queue.id!r}"
    return armed


def _workflow(
    user_id: str, app_id: str, workflow_id: str, snap: CollectorSnapshot
) -> CompiledWorkflow | None:
    if not workflow_id:
        return None
    doc = snap.workflows.get((user_id, app_id, workflow_id))
    if doc is None:
        raise InputError(
            StatusCode.WORKFLOW_DOES_NOT_EXIST,
            f"workflow {workflow_id!r} does not exist in app {user_id}/{app_id}",
        )
    return compile_workflow(parse_workflow(doc))
