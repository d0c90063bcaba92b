"""Quota counters shared by workers: two catalog connections, many threads, one limit."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from connectors.catalog import SqlCatalog
from connectors.catalog.collectors_tables import quota_grants
from pipeline.collect.operators import OPERATORS
from pipeline.collect.operators.datum import Datum, Ports, RunContext
from pipeline.models import Media
from tests.support.storage import fresh_pg_url


@pytest.fixture(params=["sqlite", "postgres"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/catalog.db"
    request.applymarker(pytest.mark.postgres)
    return fresh_pg_url(request.getfixturevalue("pg"))


def test_two_workers_share_the_limit_exactly(catalog_url: str) -> None:
    a, b = SqlCatalog(catalog_url), SqlCatalog(catalog_url)
    try:
        counters = [a.quotas, b.quotas]
        now = time.time()
        windows = [("minute", 60, 1000), ("hour", 3600, 25)]
        granted: list[str] = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            for i in range(20):
                event = f"w{n}-e{i}"
                if counters[n % 2].take("u/a/c/w/q", event, windows, now):
                    with lock:
                        granted.append(event)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(granted) == 25, "80 attempts over 2 connections, hour limit 25"
        counts = counters[0].counts("u/a/c/w/q")
        # The minute window was not charged for refused takes (all-or-nothing).
        assert counts == {"minute": 25, "hour": 25}
        # A replay of a granted event takes nothing and is let through.
        assert counters[1].take("u/a/c/w/q", granted[0], windows, now)
        assert counters[0].counts("u/a/c/w/q") == {"minute": 25, "hour": 25}
        # Another scope has its own counters; the next hour starts afresh.
        assert counters[0].take("u/a/other/w/q", "x", windows, now)
        assert counters[0].take("u/a/c/w/q", "late", windows, now + 3600)
    finally:
        a.close()
        b.close()


def test_old_grants_are_pruned_when_a_window_starts(catalog_url: str) -> None:
    catalog = SqlCatalog(catalog_url)
    try:
        q = catalog.quotas
        day = 86400
        assert q.take("s", "old", [("minute", 60, 5)], 1_000_000.0)
        assert q.take("s", "new", [("minute", 60, 5)], 1_000_000.0 + 3 * day)
        with catalog.begin() as conn:
            left = sorted(
                r[0]
                for r in conn.execute(
                    quota_grants.select().with_only_columns(quota_grants.c.event_id)
                )
            )
        assert left == ["new"]
    finally:
        catalog.close()


def test_quota_operator_drops_over_the_limit(catalog_url: str) -> None:
    catalog = SqlCatalog(catalog_url)
    try:
        kind = OPERATORS["quota"]
        quota = kind("q", kind.Params.model_validate({"per_minute": 3}))
        ports = Ports(quotas=catalog.quotas)

        def ctx(event_id: str, collector: str = "c") -> RunContext:
            return RunContext(
                event_id=event_id,
                user_id="u",
                app_id="a",
                collector_id=collector,
                workflow_id="w",
                input_type="image",
                input=Media(url="https://x.org/a.jpg"),
                ports=ports,
                now=lambda: 600.0,
            )

        passed = [quota.run(Datum(), ctx(f"e{i}")) is not None for i in range(5)]
        assert passed == [True, True, True, False, False]
        assert quota.run(Datum(), ctx("e0")) is not None  # replay of a granted event
        assert quota.run(Datum(), ctx("e9", collector="d")) is not None  # per collector
    finally:
        catalog.close()
