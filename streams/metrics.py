"""Prometheus metrics of the stages (served by `ingestd worker --metrics-port`)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from pipeline.collect.stage import FAILED, CollectResult
from pipeline.ingest.stage import IngestResult
from pipeline.media.stage import MediaResult
from pipeline.snapshot.stage import SnapshotResult
from pipeline.status import StatusCode

EVENTS_IN = Counter("ingestd_events_in_total", "Events a stage received.", ["stage"])
EVENTS_OUT = Counter(
    "ingestd_events_out_total", "Events a stage finished, by outcome.", ["stage", "outcome"]
)
STAGE_SECONDS = Histogram(
    "ingestd_stage_seconds",
    "Time from receiving an event to its durable outcome.",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ERRORS = Counter(
    "ingestd_errors_total",
    "Failures by status code: failed inputs, captures, media tasks and versions, and dead letters.",
    ["stage", "code"],
)
DEAD_LETTERS = Counter("ingestd_dead_letters_total", "Dead letters written.", ["stage", "code"])
CONSUMER_LAG = Gauge(
    "ingestd_consumer_lag", "Messages behind the partition's end.", ["topic", "partition"]
)


def failure_codes(result: Any) -> list[int]:
    """The status codes of what a stage result reports as failed (a replay reports nothing new)."""
    if isinstance(result, IngestResult):
        return [] if result.replayed else [int(o.code) for o in result.failed]
    if isinstance(result, CollectResult):
        return [int(o.code) for o in result.outcomes if o.action == FAILED]
    if isinstance(result, MediaResult):
        ok = result.skipped or result.code == StatusCode.INPUT_SUCCESS
        return [] if ok else [int(result.code)]
    if isinstance(result, SnapshotResult):
        return [] if result.ok or result.replayed else [int(result.version.status_code)]
    return []


def count_failures(stage: str, result: Any) -> None:
    for code in failure_codes(result):
        ERRORS.labels(stage, str(code)).inc()
