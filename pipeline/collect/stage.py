"""The collect stage: what happens to a prediction event.

match the collectors watching this model and caller → for each active one: random sample
(`pre_queue_random_sample`) → pre-queue workflow on the model's OUTPUT → post-queue
workflow on the ORIGINAL input → an UploadRequest follow-up, which the ingest stage stores
like any upload (limits, blobs, datasets). A failing post-queue model is retried a few
times, then that capture alone becomes a dead letter; other collectors carry on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.collect.capture import (
    check_input,
    input_data,
    model_output,
    post_queue_annotations,
    upload_request,
)
from pipeline.collect.index import ArmedCollector, CollectorIndex
from pipeline.collect.operators.annotation_writer import as_annotations
from pipeline.collect.operators.datum import Datum, KnowledgePort, Ports, RunContext, merge
from pipeline.collect.ports import CollectCatalog
from pipeline.errors import IngestError, InputError, TransientError
from pipeline.events import DeadLetter, PredictionEvent, UploadRequest
from pipeline.models import Annotation
from pipeline.stage import FollowUp
from pipeline.status import StatusCode

log = logging.getLogger(__name__)

CAPTURED, DROPPED, SKIPPED, FAILED = "captured", "dropped", "skipped", "failed"
_OK = StatusCode.SUCCESS


@dataclass(slots=True)
class CaptureOutcome:
    collector: str
    action: str
    code: StatusCode
    message: str = ""
    request_id: str | None = None


@dataclass(slots=True)
class CollectResult:
    event_id: str
    outcomes: list[CaptureOutcome] = field(default_factory=list)
    follow_ups: list[FollowUp] = field(default_factory=list)
    """UploadRequests of the captures; the transport publishes them before acking."""


class CollectStage:
    """Turns PredictionEvents into captures. Both transports call `handle`."""

    name = "collect"
    event_type = PredictionEvent

    def __init__(
        self,
        catalog: CollectCatalog,
        ports: Ports,
        *,
        dead_letters: Callable[[DeadLetter], None] | None = None,
        topic: str = "ingestd.predictions",
        refresh_s: float = 2.0,
        capture_attempts: int = 3,
        backoff_s: float = 0.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.catalog = catalog
        self.dead_letters = dead_letters
        self.topic = topic
        self.refresh_s = refresh_s
        self.capture_attempts = max(1, capture_attempts)
        self.backoff_s = backoff_s
        self.clock, self.sleep = clock, sleep
        knowledge = _CachedKnowledge(ports.knowledge, refresh_s, clock) if ports.knowledge else None
        self.ports = Ports(
            quotas=ports.quotas,
            knowledge=knowledge,
            inference=ports.inference,
            python_models=ports.python_models,
            media=ports.media,
        )
        # Outcome counts per worker thread (no lock per event); `stats` sums them.
        self._all_counts: list[dict[str, int]] = []
        self._local = threading.local()
        self._observers: list[Callable[[CollectResult], None]] = []
        self._index: CollectorIndex | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def refresh(self) -> CollectorIndex:
        """Reload collectors and workflows now (they are otherwise reloaded every refresh_s)."""
        index = CollectorIndex(self.catalog.snapshot())
        with self._lock:
            self._index, self._loaded_at = index, self.clock()
        if isinstance(self.ports.knowledge, _CachedKnowledge):
            self.ports.knowledge.clear()
        return index

    def observe(self, callback: Callable[[CollectResult], None]) -> None:
        """Call `callback` with every result (the CLI's summary of an embedded run)."""
        self._observers.append(callback)

    def handle(self, event: PredictionEvent) -> CollectResult:
        event_id = event.event_id
        if not 0 < len(event_id) <= 64 or not event_id.isprintable():
            raise InputError(
                StatusCode.CONN_INVALID_REQUEST,
                f"event id {event_id[:80]!r} is not allowed: use 1-64 printable characters",
            )
        result = CollectResult(event.event_id)
        index = self._index
        if index is None or self.clock() - self._loaded_at >= self.refresh_s:
            index = self.refresh()
        matches = index.match(event)
        if not matches:
            m = event.model
            result.outcomes.append(
                CaptureOutcome(
                    "",
                    SKIPPED,
                    StatusCode.COLLECTOR_MISSING,
                    f"no collector watches model {m.user_id}/{m.app_id}/{m.model_id} version "
                    f"{m.version_id} for caller {event.caller_user_id!r}",
                )
            )
        for armed in matches:
            if armed.ready:
                check_input(event)  # a malformed input fails the event (dead letter)
                break
        for armed in matches:
            outcome, request = self._collect(event, armed)
            result.outcomes.append(outcome)
            if request is not None:
                result.follow_ups.append(request)
        counts = getattr(self._local, "counts", None)
        if counts is None:
            counts = self._local.counts = {}
            with self._lock:
                self._all_counts.append(counts)
        for outcome in result.outcomes:
            counts[outcome.action] = counts.get(outcome.action, 0) + 1
        for observer in self._observers:
            observer(result)
        return result

    @property
    def stats(self) -> Counter[str]:
        """Outcomes so far, by action (captured, dropped, skipped, failed)."""
        total: Counter[str] = Counter()
        with self._lock:
            for counts in self._all_counts:
                total.update(dict(counts))
        return total

    def _collect(
        self, event: PredictionEvent, armed: ArmedCollector
    ) -> tuple[CaptureOutcome, UploadRequest | None]:
        key, collector = armed.key, armed.collector
        if not collector.active:
            code = StatusCode.COLLECTOR_INACTIVE
            log.info(
                "%d %s: collector %s is inactive; event %s not captured",
                code,
                code.name,
                key,
                event.event_id,
            )
            return CaptureOutcome(key, SKIPPED, code, f"collector {key} is inactive"), None
        if armed.problem is not None:
            problem = armed.problem
            log.warning("collector %s cannot capture: %s", key, problem)
            return CaptureOutcome(key, FAILED, problem.code, problem.message), None
        fraction = collector.pre_queue_random_sample
        if fraction is not None and not armed.sample.keep(fraction, event.event_id):
            return self._dropped(key, "pre_queue_random_sample"), None
        ctx = RunContext(  # positional: this runs for every event
            event.event_id,
            armed.user_id,
            armed.app_id,
            collector.id,
            "",
            event.input_type,
            event.input,
            self.ports,
            self.clock,
        )
        annotations: list[Annotation] = []
        if armed.pre_queue is None:
            kept = [model_output(event)]
        else:
            ctx.workflow_id = armed.pre_queue.id
            try:
                kept = armed.pre_queue.run_lazily(model_output, event, ctx)
            except InputError as exc:
                return CaptureOutcome(key, FAILED, exc.code, f"pre-queue: {exc.message}"), None
            if not kept:
                return CaptureOutcome(key, DROPPED, _OK, armed.pre_dropped), None
        if collector.collect_outputs:
            annotations.extend(as_annotations(merge(kept)))
        if armed.post_queue is not None:
            ctx.workflow_id = armed.post_queue.id
            outputs = self._post_queue(event, armed, ctx)
            if isinstance(outputs, CaptureOutcome):
                return outputs, None
            posted = [d for d in outputs if d.has_output()]
            if not posted:
                return self._dropped(
                    key, f"post-queue workflow {armed.post_queue.id!r} (no output)"
                ), None
            annotations.extend(post_queue_annotations(posted))
        request = upload_request(
            event,
            input_data(event),
            user_id=armed.user_id,
            app_id=armed.app_id,
            collector_key=key,
            annotations=annotations,
            dataset_id=collector.dataset_id,
            collector_id=collector.id,
        )
        return CaptureOutcome(
            key, CAPTURED, StatusCode.SUCCESS, request_id=request.request_id
        ), request

    def _post_queue(
        self, event: PredictionEvent, armed: ArmedCollector, ctx: RunContext
    ) -> list[Datum] | CaptureOutcome:
        """Run the post-queue workflow, retrying transient failures; dead-letter it at the end."""
        assert armed.post_queue is not None
        attempt = 0
        while True:
            attempt += 1
            try:
                return armed.post_queue.run(Datum(metadata=event.metadata), ctx)
            except TransientError as exc:
                if attempt < self.capture_attempts:
                    wait = max(
                        exc.retry_after if attempt > 1 else 0.0, self.backoff_s * 2 ** (attempt - 1)
                    )
                    log.warning(
                        "collector %s: post-queue try %d failed, retrying in %.1fs: %s",
                        armed.key,
                        attempt,
                        wait,
                        exc.message,
                    )
                    self.sleep(wait)
                    continue
                return self._dead(event, armed, exc, attempt)
            except IngestError as exc:
                return self._dead(event, armed, exc, attempt)
            except Exception as exc:  # an operator's bug must not stop the other collectors
                log.exception("collector %s: post-queue workflow raised", armed.key)
                failure = InputError(
                    StatusCode.INTERNAL_SERVER_ISSUE, f"{type(exc).__name__}: {exc}"
                )
                return self._dead(event, armed, failure, attempt)

    def _dead(
        self, event: PredictionEvent, armed: ArmedCollector, exc: IngestError, attempts: int
    ) -> CaptureOutcome:
        code = StatusCode.COLLECTOR_POST_INPUT_FAILED
        assert armed.post_queue is not None
        tries = f"after {attempts} tries" if attempts > 1 else "(not retried)"
        message = (
            f"collector {armed.key}: post-queue workflow {armed.post_queue.id!r} failed {tries}: "
            f"{exc.code.value} {exc.code.name}: {exc.message}"
        )
        letter = DeadLetter(
            event_id=event.event_id,
            stage=self.name,
            code=code,
            message=message,
            attempts=attempts,
            origin_topic=self.topic,
            origin_key=event.model.version_id,
            event=event.model_copy(update={"collector_ids": [armed.key]}).model_dump(mode="json"),
        )
        log.error("%d %s: %s", code, code.name, message)
        if self.dead_letters is not None:
            self.dead_letters(letter)  # durable before the event is acknowledged
        return CaptureOutcome(armed.key, FAILED, code, message)

    @staticmethod
    def _dropped(key: str, by: str) -> CaptureOutcome:
        return CaptureOutcome(key, DROPPED, StatusCode.SUCCESS, f"not captured: dropped by {by}")


class _CachedKnowledge:
    """An app's concept relations, reloaded at most every `ttl` seconds."""

    def __init__(self, port: KnowledgePort, ttl: float, clock: Callable[[], float]) -> None:
        self.port, self.ttl, self.clock = port, ttl, clock
        self._cache: dict[tuple[str, str], tuple[float, list[tuple[str, str, str]]]] = {}

    def relations(self, user_id: str, app_id: str) -> list[tuple[str, str, str]]:
        hit = self._cache.get((user_id, app_id))
        if hit is None or self.clock() - hit[0] >= self.ttl:
            hit = (self.clock(), self.port.relations(user_id, app_id))
            self._cache[(user_id, app_id)] = hit
        return hit[1]

    def clear(self) -> None:
        self._cache.clear()
