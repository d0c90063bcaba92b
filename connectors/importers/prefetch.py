"""Read ahead in parallel, hand results back in order, within a count and a byte budget."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetch(
    source: Iterable[T],
    fetch: Callable[[T], R],
    *,
    concurrency: int,
    budget: int,
    weight: Callable[[T], int],
) -> Generator[tuple[T, R | Exception], None, None]:
    """(item, fetch(item) or the exception it raised), in source order.

    At most `2 * concurrency` items and `budget` weight are in flight or waiting, so the
    memory held is bounded whatever the source's length; the source is pulled lazily.
    Closing the iterator early cancels what has not started and waits for what has.
    """
    window: deque[tuple[T, Future[R]]] = deque()
    used = 0
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="prefetch")
    try:
        for item in source:
            w = weight(item)
            while window and (len(window) >= 2 * concurrency or used + w > budget):
                done, future = window.popleft()
                used -= weight(done)
                yield done, _outcome(future)
            window.append((item, pool.submit(fetch, item)))
            used += w
        while window:
            done, future = window.popleft()
            yield done, _outcome(future)
    finally:
        for _, future in window:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


_DONE = object()


def read_ahead(source: Iterable[T], depth: int = 2) -> Generator[T, None, None]:
    """The source's items, produced by a background thread up to `depth` ahead.

    For sources that wait on the network (listing pages): the next page is fetched while
    this one is read. The source's exception is raised here; closing stops the thread.
    """
    slots: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    closed = threading.Event()

    def offer(value: Any) -> bool:
        while not closed.is_set():
            try:
                slots.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not offer((item, None)):
                    return
            offer((_DONE, None))
        except BaseException as exc:  # handed to the reader, raised there
            offer((None, exc))

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        closed.set()
        thread.join()


def _outcome(future: Future[Any]) -> Any:
    try:
        return future.result()
    except Exception as exc:  # handed to the caller, who turns it into a failed item
        return exc
