"""Lists of ids cut into batches a SQL `IN (...)` can take on SQLite and PostgreSQL alike."""

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

IN_BATCH = 500  # well under SQLite's bound-parameter limit


def in_batches(values: Sequence[T], size: int = IN_BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
