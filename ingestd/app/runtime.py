"""Assemble one running ingestd from settings: stores, catalog, stages and a transport.

`stages()` gives the stage of each topic of the topic table (pipeline/topics.py); the embedded
bus and the Kafka worker both subscribe exactly these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from connectors.blobs import open_blob_store
from connectors.catalog import SqlCatalog
from connectors.fetch import GuardedFetcher
from ingestd.app.settings import Settings
from pipeline.collect.stage import CollectStage
from pipeline.events import UploadRequest
from pipeline.ingest.stage import IngestStage
from pipeline.media.stage import MediaStage
from pipeline.ports import BlobStore, Fetcher
from pipeline.snapshot.stage import SnapshotStage
from pipeline.stage import Stage
from pipeline.topics import PREDICTIONS, TOPICS, key_for, topic_for
from streams.bus import EmbeddedBus
from streams.delivery import Delivered, RetryPolicy

if TYPE_CHECKING:
    from connectors.producer import IngestClient


@dataclass
class Runtime:
    settings: Settings
    blobs: BlobStore
    catalog: SqlCatalog
    fetcher: Fetcher
    ingest: IngestStage
    _bus: EmbeddedBus | None = field(default=None, repr=False)
    _client: IngestClient | None = field(default=None, repr=False)
    # Called after each event the embedded bus delivers (`ingestd serve` wakes its waiters).
    delivery_listeners: list[Callable[[str, Delivered], None]] = field(
        default_factory=list, repr=False
    )

    @classmethod
    def open(cls, settings: Settings | None = None) -> Runtime:
        settings = settings or Settings.load()
        blobs = open_blob_store(settings.blobs, settings.s3())
        catalog = SqlCatalog(settings.catalog_url())
        fetcher = GuardedFetcher(
            allow=settings.fetch_allow, timeout=settings.limits.fetch_timeout_s
        )
        ingest = IngestStage(
            blobs,
            catalog,
            fetcher,
            settings.limits,
            blob_concurrency=settings.blob_concurrency,
            media_catalog=catalog.chunks,
        )
        return cls(settings, blobs, catalog, fetcher, ingest)

    def stages(self) -> dict[str, Stage[Any]]:
        """Topic → the stage that serves it, as the topic table says (both transports)."""
        stages: dict[str, Stage[Any]] = {
            "ingest": self.ingest,
            "media": self.media,
            "collect": self.collect,
            "snapshot": self.snapshot,
        }
        return {t.name: stages[t.stage] for t in TOPICS if t.stage is not None}

    @cached_property
    def media(self) -> MediaStage:
        """The media stage (oversized media become chunks), built on first use."""
        return MediaStage(
            self.blobs,
            self.catalog.chunks,
            self.settings.limits,
            blob_concurrency=self.settings.blob_concurrency,
        )

    @cached_property
    def collect(self) -> CollectStage:
        """The collect stage (collectors), built on first use."""
        from ingestd.app.collect_wiring import collect_stage

        # Its dead letters name the topic as it is really called (prefixed on Kafka).
        topic = self.settings.topic_prefix + PREDICTIONS if self.kafka_mode else PREDICTIONS
        return collect_stage(self.settings, self.catalog, self.blobs, topic)

    @cached_property
    def snapshot(self) -> SnapshotStage:
        """The snapshot stage (dataset versions), built on first use."""
        return SnapshotStage(self.blobs, self.catalog.versions)

    @property
    def bus(self) -> EmbeddedBus:
        """The embedded bus with every stage subscribed, started on first use."""
        if self._bus is None:
            bus = EmbeddedBus(
                dead_letter_sink=self.catalog.record_dead_letter,
                queue_size=self.settings.queue_size,
                workers=self.settings.workers,
                policy=RetryPolicy(max_attempts=self.settings.max_attempts),
                on_delivered=self._delivered,
                batch_events=self.settings.stream.batch_events,
                batch_ms=self.settings.stream.batch_ms,
            )
            for topic, stage in self.stages().items():
                bus.subscribe(topic, stage)
            self._bus = bus
        return self._bus

    def _delivered(self, topic: str, done: Delivered) -> None:
        for listener in self.delivery_listeners:
            listener(topic, done)

    @property
    def kafka_mode(self) -> bool:
        return self.settings.broker.startswith("kafka://")

    @property
    def client(self) -> IngestClient:
        """The Kafka producer (INGESTD_BROKER=kafka://...), created on first use."""
        if self._client is None:
            from connectors.producer import IngestClient

            self._client = IngestClient(
                self.settings.broker,
                blobs=self.blobs,
                user_id=self.settings.user_id,
                app_id=self.settings.app_id,
                limits=self.settings.limits,
                topic_prefix=self.settings.topic_prefix,
            )
        return self._client

    def publish(self, event: Any) -> None:
        """Hand any event to the transport, on the topic its type belongs to."""
        if self.kafka_mode:
            self.client.send(event)
        else:
            self.bus.publish(topic_for(event), event, key=key_for(event))

    def flush(self) -> None:
        """Make sure what was published has reached the transport."""
        if self._client is not None:
            self._client.flush()

    def submit(self, request: UploadRequest) -> None:
        """Hand an upload request to the transport (blocks while the topic is full)."""
        self.publish(request)

    def close(self) -> None:
        if self._bus is not None:
            self._bus.close()
            self._bus = None
        if self._client is not None:
            self._client.close()
            self._client = None
        self.ingest.close()
        self.catalog.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
