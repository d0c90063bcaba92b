"""Prometheus metrics of `ingestd serve` (on /metrics with the stages' own, on every mode)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "ingestd_api_requests_total",
    "Calls answered, by transport, route (the V2 method, or what was asked) and platform code.",
    ["transport", "route", "code"],
)
SECONDS = Histogram(
    "ingestd_api_request_seconds",
    "Time to answer a call once it is read.",
    ["transport", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def count(transport: str, route: str, code: int, seconds: float | None = None) -> None:
    REQUESTS.labels(transport, route, str(code)).inc()
    if seconds is not None:
        SECONDS.labels(transport, route).observe(seconds)
