"""Read-ahead helpers: order kept, memory bounded, errors handed over, early close clean."""

from __future__ import annotations

import threading
import time

import pytest

from connectors.importers.prefetch import prefetch, read_ahead


def test_prefetch_keeps_order_and_bounds_what_is_in_flight() -> None:
    lock = threading.Lock()
    active, peak = [0], [0]
    pulled: list[int] = []

    def source():
        for n in range(40):
            pulled.append(n)
            yield n

    def fetch(n: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.002 * (n % 3))
        with lock:
            active[0] -= 1
        if n == 7:
            raise ValueError("seven")
        return n * 10

    results = []
    for n, got in prefetch(source(), fetch, concurrency=3, budget=10**9, weight=lambda _n: 1):
        results.append((n, got))
        assert len(pulled) - len(results) <= 6  # never more than 2 x concurrency ahead
    assert [n for n, _ in results] == list(range(40))
    assert isinstance(results[7][1], ValueError) and results[8][1] == 80
    assert peak[0] <= 3


def test_prefetch_respects_the_byte_budget() -> None:
    pulled: list[int] = []

    def source():
        for n in range(10):
            pulled.append(n)
            yield n

    gen = prefetch(source(), lambda n: n, concurrency=8, budget=250, weight=lambda _n: 100)
    next(gen)
    assert len(pulled) <= 3  # 100-byte items under a 250-byte budget: two or three at once
    gen.close()


def test_read_ahead_hands_over_errors_and_stops_when_closed() -> None:
    def broken():
        yield 1
        raise RuntimeError("listing failed")

    reader = read_ahead(broken())
    assert next(reader) == 1
    with pytest.raises(RuntimeError, match="listing failed"):
        next(reader)

    produced: list[int] = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    reader = read_ahead(endless(), depth=2)
    assert [next(reader) for _ in range(3)] == [0, 1, 2]
    reader.close()
    settled = len(produced)
    time.sleep(0.3)
    assert len(produced) == settled <= 3 + 2 + 1  # the thread stopped, a bounded way ahead
