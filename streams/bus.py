"""The embedded transport: an in-process bus with the design's topics.

Each topic has a few partitions, each a bounded queue (a full queue blocks the publisher:
backpressure) served by its own worker thread. The thread takes what is waiting (up to
`batch_events`, waiting at most `batch_ms` for more) and runs the topic's stage over it through
`deliver_batch` (one catalog transaction for a batch of uploads), so retries and dead letters
behave as on Kafka. Events with the same key (an upload shard, a dataset's snapshots) land on
the same partition and are handled in order, as on Kafka. An event leaves its queue only after
its outcome is durable (at-least-once within the process); idempotent stages make redelivery
harmless.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from pipeline.events import DeadLetter
from pipeline.stage import Stage
from streams.delivery import (
    Delivered,
    Item,
    Origin,
    RetryPolicy,
    deliver_batch,
    route_follow_ups,
    store_dead_letter,
)

log = logging.getLogger("ingestd.bus")

_STOP = object()


@dataclass
class _Subscription:
    topic: str
    stage: Stage[Any]
    partitions: list[queue.Queue[Any]]
    threads: list[threading.Thread]

    def unfinished(self) -> int:
        return sum(q.unfinished_tasks for q in self.partitions)


class EmbeddedBus:
    """Topics as bounded queues, stages on worker threads; `join()` waits for quiet."""

    def __init__(
        self,
        *,
        dead_letter_sink: Callable[[DeadLetter], None],
        queue_size: int = 64,
        workers: int = 2,
        policy: RetryPolicy | None = None,
        on_delivered: Callable[[str, Delivered], None] | None = None,
        batch_events: int = 64,
        batch_ms: float = 0.0,
    ) -> None:
        self.queue_size = queue_size
        # In-process events carry their media: a batch at most as large as a queue keeps
        # what a partition holds (queued and in hand) within twice the queue's bound.
        self.batch_events = max(1, min(batch_events, queue_size))
        self.batch_ms = batch_ms
        self.workers = workers
        self.policy = policy or RetryPolicy()
        self.dead_letter_sink = dead_letter_sink
        self.on_delivered = on_delivered
        self._subs: dict[str, _Subscription] = {}
        self._offsets: dict[str, int] = {}
        self._lock = threading.Lock()

    def subscribe(self, topic: str, stage: Stage[Any], workers: int | None = None) -> None:
        """Serve `topic` with `stage` on worker threads."""
        if topic in self._subs:
            raise ValueError(f"{topic} already has a stage")
        sub = _Subscription(topic, stage, [], [])
        for n in range(max(1, workers or self.workers)):
            q: queue.Queue[Any] = queue.Queue(maxsize=self.queue_size)
            thread = threading.Thread(
                target=self._serve, args=(sub, q), name=f"{topic}-{n}", daemon=True
            )
            sub.partitions.append(q)
            sub.threads.append(thread)
            thread.start()
        self._subs[topic] = sub

    def publish(self, topic: str, event: BaseModel, key: str | None = None) -> None:
        """Put an event on a topic; blocks while the topic's queue is full."""
        if topic not in self._subs:
            raise ValueError(f"no stage serves {topic} on this bus")
        with self._lock:
            offset = self._offsets.get(topic, 0)
            self._offsets[topic] = offset + 1
        sub = self._subs[topic]
        # Same key, same partition (ordered); no key: spread round robin.
        part = (zlib.crc32(key.encode()) if key is not None else offset) % len(sub.partitions)
        # In-process the event object itself travels (no JSON round trip: that cost more
        # than decoding the images); the publisher must not mutate it afterwards.
        sub.partitions[part].put((event, Origin(topic, part, offset, key)))

    def join(self) -> None:
        """Wait until every published event, and every follow-up it caused, is delivered."""
        while True:
            for sub in list(self._subs.values()):
                for q in sub.partitions:
                    q.join()
            # A stage may have published follow-ups to a topic joined earlier in the pass.
            if all(sub.unfinished() == 0 for sub in self._subs.values()):
                return

    def close(self) -> None:
        """Finish what is queued (and what it causes), then stop the worker threads."""
        self.join()
        for sub in self._subs.values():
            for q in sub.partitions:
                q.put(_STOP)
        for sub in self._subs.values():
            for thread in sub.threads:
                thread.join()
        self._subs.clear()

    def __enter__(self) -> EmbeddedBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self, sub: _Subscription, partition: queue.Queue[Any]) -> None:
        stopping = False
        while not stopping:
            items = self._take(partition)
            try:
                if items[-1] is _STOP:
                    stopping = True
                    items = items[:-1]
                if items:
                    self._deliver(sub, items)
            finally:
                for _ in range(len(items) + stopping):
                    partition.task_done()

    def _take(self, partition: queue.Queue[Any]) -> list[Any]:
        """What is waiting on the partition: up to `batch_events` items, waiting at most
        `batch_ms` after the first for more (a stop ends the batch)."""
        items = [partition.get()]
        deadline = time.monotonic() + self.batch_ms / 1000
        while len(items) < self.batch_events and items[-1] is not _STOP:
            try:
                items.append(partition.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return items

    def _deliver(self, sub: _Subscription, items: list[tuple[Any, Origin]]) -> None:
        batch = [Item(raw, origin) for raw, origin in items]
        outcomes = deliver_batch(
            batch, sub.stage, policy=self.policy, dead_letter_sink=self.dead_letter_sink
        )
        for item, done in zip(batch, outcomes, strict=True):
            # Follow-ups are handed on before this event counts as done (at-least-once).
            routed, unroutable = route_follow_ups(
                done.result, item.origin, served=self._subs.__contains__
            )
            for topic, follow_up in routed:
                self.publish(topic.name, follow_up, key=topic.key(follow_up))
            for letter in unroutable:
                store_dead_letter(letter, self.dead_letter_sink, self.policy)
            if self.on_delivered is not None:
                try:
                    self.on_delivered(sub.topic, done)
                except Exception:  # a listener must never stop the stage
                    log.exception("on_delivered listener failed")
