"""The distributed transport: the stages as Faust agents on Kafka, in one consumer group.

One agent per stage topic, running the same stage functions as the embedded bus through
the same `deliver_batch` (decode → run → retry transient failures → dead letter). An agent
takes what is waiting (up to `batch_events`, `batch_ms` at most), and its events are
acknowledged (by hand), then their offsets committed, only after their outcome is durable:
the stage committed its catalog transaction (one for a batch of uploads), follow-up events
and dead letters were acknowledged by the broker (acks=all), and dead letters were recorded
in the catalog. No exception escapes an agent: Faust would
acknowledge and drop the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import faust
from faust.types import EventT
from pydantic import BaseModel

from pipeline.events import DeadLetter
from pipeline.ids import derived_id
from pipeline.stage import Stage
from pipeline.topics import DEADLETTER, TOPICS, key_for, partition_for, topic_for
from streams import metrics
from streams.delivery import Delivered, Item, Origin, RetryPolicy, deliver_batch, route_follow_ups

log = logging.getLogger("ingestd.kafka")


def ensure_topics(broker: str, names: list[str], partitions: int, replication: int = 1) -> None:
    """Create the topics a worker reads before it joins the group.

    A topic missing when a consumer subscribes is ignored until a metadata refresh, which
    can take minutes: events produced meanwhile would sit unconsumed.
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=broker.removeprefix("kafka://").split(","))
    try:
        missing = sorted(set(names) - set(admin.list_topics()))
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was quicker
                admin.create_topics([NewTopic(n, partitions, replication) for n in missing])
    finally:
        admin.close()


def faust_broker_url(broker: str) -> str:
    """INGESTD_BROKER=kafka://h1:9092,h2:9092 → Faust's form kafka://h1:9092;kafka://h2:9092."""
    hosts = broker.removeprefix("kafka://").split(",")
    return ";".join(f"kafka://{h.strip()}" for h in hosts if h.strip())


class KafkaTransport:
    """Builds the Faust app for a set of stages (by topic) and a dead-letter recorder."""

    def __init__(
        self,
        broker: str,
        stages: dict[str, Stage[Any]],
        record_dead_letter: Callable[[DeadLetter], None],
        *,
        partitions: int = 4,
        policy: RetryPolicy | None = None,
        group: str = "ingestd",
        topic_prefix: str = "",
        max_message_bytes: int = 1_000_000,
        session_timeout: float = 10.0,
        datadir: str | None = None,
        batch_events: int = 64,
        batch_ms: float = 50.0,
    ) -> None:
        self.stages = stages
        self.batch_events = max(1, batch_events)
        self.batch_ms = batch_ms
        # Faust writes its data directory (<id>-data/) into the current directory unless told
        # otherwise. Tables live in memory here, so nothing in it outlives the worker: a temp
        # directory of the worker's own, removed by close(), unless the caller names one.
        self._own_datadir = datadir is None
        self.datadir = datadir or tempfile.mkdtemp(prefix="ingestd-faust-")
        self.partitions = partitions
        self.record_dead_letter = record_dead_letter
        self.policy = policy or RetryPolicy(max_attempts=0)
        self.pool = ThreadPoolExecutor(max_workers=max(2, len(stages)), thread_name_prefix="stage")
        self.app = faust.App(
            topic_prefix + group,
            broker=faust_broker_url(broker),
            value_serializer="raw",
            key_serializer="raw",
            topic_partitions=partitions,
            topic_replication_factor=1,
            web_enabled=False,
            producer_acks=-1,
            producer_max_request_size=max_message_bytes,
            broker_commit_interval=1.0,
            # A worker killed without goodbye holds its partitions until its session expires:
            # keep that short so the group rebalances to the survivors quickly.
            broker_session_timeout=session_timeout,
            broker_heartbeat_interval=max(1.0, session_timeout / 3),
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,
            store="memory://",
            datadir=self.datadir,
        )
        self.topics = {
            name: self.app.topic(
                topic_prefix + name, partitions=partitions, value_type=bytes, key_type=bytes
            )
            for name in (t.name for t in TOPICS)
        }
        for name, stage in stages.items():
            self._add_agent(name, stage)

    def close(self) -> None:
        """Remove the data directory made for this transport (none of it is kept)."""
        if self._own_datadir:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def _add_agent(self, topic_name: str, stage: Stage[Any]) -> None:
        transport = self

        async def agent(stream: faust.StreamT) -> None:
            # Acked by hand, only when done: Faust's own ack sits in a `finally` of its
            # stream iterator (and `take_events` acks a batch in a `finally` too), and so
            # also acks (and commits) events whose processing was cancelled by a shutdown.
            # StreamT declares neither noack nor noack_take
            manual = cast(faust.Stream, cast(faust.Stream, stream).noack())
            # What is waiting, up to batch_events, at most batch_ms after the first event
            # (no `within` would wait for a full batch however long that takes).
            within = max(transport.batch_ms, 1.0) / 1000
            async for events in manual.noack_take(transport.batch_events, within=within):
                batch = cast(list[EventT], events)
                try:
                    await transport._process(batch, topic_name, stage)
                except asyncio.CancelledError:
                    raise  # shutting down: the batch stays unacknowledged and is redelivered
                except BaseException:  # never let Faust ack-and-drop: log, wait, try again
                    log.exception("stage=%s unexpected failure outside delivery", stage.name)
                    await transport._process_until_done(batch, topic_name, stage)
                for event in batch:
                    await manual.ack(event)
                await transport._commit()

        agent.__name__ = f"{stage.name}_agent"
        self.app.agent(self.topics[topic_name], name=f"ingestd.{stage.name}")(agent)

    async def _commit(self) -> None:
        """Commit the offsets acknowledged so far (else Faust's next periodic commit will)."""
        try:
            await self.app.consumer.commit()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("offset commit failed; the next one covers it", exc_info=True)

    async def _process_until_done(
        self, events: list[EventT], topic: str, stage: Stage[Any]
    ) -> None:
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
            try:
                await self._process(events, topic, stage)
                return
            except asyncio.CancelledError:
                raise
            except BaseException:
                log.exception("stage=%s still failing (try %d)", stage.name, attempt)

    async def _process(self, events: list[EventT], topic: str, stage: Stage[Any]) -> None:
        """Deliver a batch, publish its follow-ups and dead letters, wait for the broker."""
        items = [_item(event.message) for event in events]
        letters: list[DeadLetter] = []
        started = time.perf_counter()
        metrics.EVENTS_IN.labels(stage.name).inc(len(items))
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        try:
            outcomes: list[Delivered] = await loop.run_in_executor(
                self.pool,
                lambda: deliver_batch(
                    items,
                    stage,
                    policy=self.policy,
                    dead_letter_sink=letters.append,
                    stop=stop,
                ),
            )
        except asyncio.CancelledError:
            # Shutting down: the thread would otherwise keep retrying an outage, and the
            # process could not exit until it ended. The batch stays unacknowledged.
            stop.set()
            raise
        sent: list[Any] = []
        failed: list[bool] = []
        for item, done in zip(items, outcomes, strict=True):
            metrics.count_failures(stage.name, done.result)
            routed, unroutable = route_follow_ups(done.result, item.origin, item.dead_letter_id)
            for _topic, follow_up in routed:
                sent.append(await self._produce(follow_up))
            for letter in unroutable:
                log.error("stage=route dead letter %s: %s", letter.dead_letter_id, letter.message)
                letters.append(letter)
            failed.append(done.dead_letter is not None or bool(unroutable))
        for fut in sent:  # flush: every follow-up acknowledged by the broker (acks=all)
            await fut
        for letter in letters:
            await self._dead_letter(letter)
        elapsed = time.perf_counter() - started
        seconds = metrics.STAGE_SECONDS.labels(stage.name)  # a label look-up per batch
        for _ in failed:
            seconds.observe(elapsed)
        dead = sum(failed)
        metrics.EVENTS_OUT.labels(stage.name, "ok").inc(len(failed) - dead)
        if dead:
            metrics.EVENTS_OUT.labels(stage.name, "dead_letter").inc(dead)
        last = events[-1].message
        highwater = self.app.consumer.highwater(last.tp)
        if highwater is not None:
            metrics.CONSUMER_LAG.labels(topic, str(last.partition)).set(
                max(0, highwater - last.offset - 1)
            )

    async def send(self, event: BaseModel, topic: str | None = None) -> None:
        """Produce an event and wait until the broker has it (acks=all)."""
        await (await self._produce(event, topic))

    async def _produce(self, event: BaseModel, topic: str | None = None) -> Any:
        """Hand an event to the producer; the future resolves when the broker has it."""
        name = topic or topic_for(event)
        key = key_for(event)
        return await self.topics[name].send(
            key=key.encode() if key else None,
            value=event.model_dump_json().encode(),
            partition=partition_for(event, self.partitions),
        )

    async def _dead_letter(self, letter: DeadLetter) -> None:
        metrics.DEAD_LETTERS.labels(letter.stage, str(int(letter.code))).inc()
        metrics.ERRORS.labels(letter.stage, str(int(letter.code))).inc()
        # Each step is retried on its own, so the topic gets the letter once.
        await self._until_done("send dead letter", letter, lambda: self.send(letter, DEADLETTER))
        loop = asyncio.get_running_loop()
        await self._until_done(
            "record dead letter",
            letter,
            lambda: loop.run_in_executor(self.pool, self.record_dead_letter, letter),
        )

    async def _until_done(self, what: str, letter: DeadLetter, step: Callable[[], Any]) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await step()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s %s: try %d failed", what, letter.dead_letter_id, attempt)
                await asyncio.sleep(self.policy.delay(min(attempt, 8)))


def _item(message: Any) -> Item:
    key = message.key.decode("utf-8", "replace")[:256] if message.key else None
    # The real (prefixed) topic: the one a person looks for, and offsets are only unique in it.
    origin = Origin(message.topic, message.partition, message.offset, key)
    # Same origin offset, same id: a redelivered event is dead-lettered once.
    letter_id = derived_id("deadletter", message.topic, str(message.partition), str(message.offset))
    return Item(message.value, origin, letter_id)
