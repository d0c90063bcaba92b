"""Assemble one running ingestd from settings: stores, catalog, stages and a transport."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.blobs import open_blob_store
from connectors.catalog import SqlCatalog
from connectors.fetch import GuardedFetcher
from connectors.settings import Settings
from pipeline.events import UploadRequest
from pipeline.ingest import IngestStage
from pipeline.ports import BlobStore
from streams.bus import EmbeddedBus
from streams.delivery import RetryPolicy
from streams.topics import UPLOADS


@dataclass
class Runtime:
    settings: Settings
    blobs: BlobStore
    catalog: SqlCatalog
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
        return cls(settings, blobs, catalog, ingest)

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
            bus.subscribe(UPLOADS, self.ingest.handle)
            self._bus = bus
        return self._bus

    def submit(self, request: UploadRequest) -> None:
        """Hand an upload request to the transport (blocks while the topic is full)."""
        self.bus.publish(UPLOADS, request, key=request.app_id)

    def close(self) -> None:
        if self._bus is not None:
            self._bus.close()
            self._bus = None
        self.catalog.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
