"""The embedded transport: an in-process bus with the design's topics.

Each topic has a few partitions, each a bounded queue (a full queue blocks the publisher:
backpressure) served by its own worker thread that runs the topic's stage through `deliver`,
so retries and dead letters behave as on Kafka. Events with the same key (an app's uploads, a
dataset's snapshots) land on the same partition and are handled in order, as on Kafka. An event
leaves its queue only after its outcome is durable (at-least-once within the process);
idempotent stages make redelivery harmless.
"""

from __future__ import annotations

import logging
import queue
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from pipeline.events import DeadLetter
from pipeline.stage import Stage
from streams.delivery import (
    Delivered,
    Origin,
    RetryPolicy,
    deliver,
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
    ) -> None:
        self.queue_size = queue_size
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
        while True:
            item = partition.get()
            try:
                if item is _STOP:
                    return
                raw, origin = item
                done = deliver(
                    raw,
                    sub.stage,
                    origin=origin,
                    policy=self.policy,
                    dead_letter_sink=self.dead_letter_sink,
                )
                # Follow-ups are handed on before this event counts as done (at-least-once).
                routed, unroutable = route_follow_ups(
                    done.result, origin, served=self._subs.__contains__
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
            finally:
                partition.task_done()
