"""Prometheus metrics of the stages (served by `ingestd worker --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
ERRORS = Counter("ingestd_errors_total", "Failures by status code.", ["stage", "code"])
DEAD_LETTERS = Counter("ingestd_dead_letters_total", "Dead letters written.", ["stage", "code"])
CONSUMER_LAG = Gauge(
    "ingestd_consumer_lag", "Messages behind the partition's end.", ["topic", "partition"]
)
