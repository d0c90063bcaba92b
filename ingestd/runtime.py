"""Assemble one running ingestd from settings: stores, catalog, stages and a transport.

`stage_handlers()` is the one list of which stage serves which topic; the embedded bus and
the Kafka worker both subscribe exactly these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.blobs import open_blob_store
from connectors.catalog import SqlCatalog
from connectors.fetch import GuardedFetcher
from connectors.settings import Settings
from pipeline.events import UploadRequest
from pipeline.ingest import IngestStage
from pipeline.ports import BlobStore, Fetcher
from streams.bus import EmbeddedBus
from streams.delivery import RetryPolicy
from streams.topics import UPLOADS, key_for, topic_for


@dataclass
class Runtime:
    settings: Settings
    blobs: BlobStore
    catalog: SqlCatalog
    fetcher: Fetcher
    ingest: IngestStage
    _bus: EmbeddedBus | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings | None = None) -> Runtime:
        settings = settings or Settings()
        blobs = open_blob_store(settings)
        catalog = SqlCatalog(settings.catalog)
        fetcher = GuardedFetcher(
            allow=settings.fetch_allow, timeout=settings.limits.fetch_timeout_s
        )
        ingest = IngestStage(
            blobs, catalog, fetcher, settings.limits, blob_concurrency=settings.blob_concurrency
        )
        return cls(settings, blobs, catalog, fetcher, ingest)

    def stage_handlers(self) -> dict[str, Callable[[Any], Any]]:
        """Topic → the stage function that serves it (both transports use this)."""
        return {
            UPLOADS: self.ingest.handle,
        }

    @property
    def bus(self) -> EmbeddedBus:
        """The embedded bus with every stage subscribed, started on first use."""
        if self._bus is None:
            bus = EmbeddedBus(
                dead_letter_sink=self.catalog.record_dead_letter,
                queue_size=self.settings.queue_size,
                workers=self.settings.workers,
                policy=RetryPolicy(max_attempts=self.settings.max_attempts),
            )
            for topic, handler in self.stage_handlers().items():
                bus.subscribe(topic, handler)
            self._bus = bus
        return self._bus

    def publish(self, event: Any) -> None:
        """Hand any event to the transport, on the topic its type belongs to."""
        self.bus.publish(topic_for(event), event, key=key_for(event))

    def submit(self, request: UploadRequest) -> None:
        """Hand an upload request to the transport (blocks while the topic is full)."""
        self.publish(request)

    def close(self) -> None:
        if self._bus is not None:
            self._bus.close()
            self._bus = None
        self.catalog.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
