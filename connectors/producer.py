"""The producer client for services: put events on ingestd's Kafka topics (kafka-python).

    client = IngestClient("127.0.0.1:9092", blobs=open_blob_store(settings.blobs, settings.s3()))
    client.post_inputs([Input(data=Data(image=Media(url="https://...")))], dataset_ids=["d"])
    client.report_prediction(PredictionEvent(...))
    client.create_dataset_version("d", description="for training")
    client.flush()

Messages stay small (the broker's limit is about 1 MB): inline media that would not fit is
written to the blob store first, under the same content-addressed key the ingest stage
uses, and the event carries the key instead (claim check).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer
from pydantic import BaseModel

from pipeline.events import PredictionEvent, SnapshotRequest, UploadRequest
from pipeline.ids import blob_key, sha256_hex
from pipeline.limits import Limits, shard_batches
from pipeline.models import ConflictResolution, Input, Media, Text
from pipeline.ports import BlobStore
from pipeline.sniff import sniff
from pipeline.topics import key_for, partition_for, shard_of_id, topic_for

log = logging.getLogger("ingestd.producer")

MESSAGE_BUDGET = 900_000  # bytes of JSON per message, under the broker's 1 MB default


class IngestClient:
    """Produces UploadRequests, PredictionEvents and SnapshotRequests with acks=all."""

    def __init__(
        self,
        bootstrap: str,
        *,
        blobs: BlobStore | None = None,
        user_id: str = "me",
        app_id: str = "main",
        linger_ms: int = 10,
        message_budget: int = MESSAGE_BUDGET,
        limits: Limits | None = None,
        topic_prefix: str = "",
    ) -> None:
        self.topic_prefix = topic_prefix
        self._pending: list[Any] = []
        self._partitions: dict[str, int] = {}
        self.blobs = blobs
        self.user_id = user_id
        self.app_id = app_id
        self.message_budget = message_budget
        self.limits = limits or Limits()
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap.removeprefix("kafka://").split(","),
            acks="all",
            linger_ms=linger_ms,
            retries=10,
            max_in_flight_requests_per_connection=1,  # keep order through retries
            max_request_size=1_048_576,
        )

    # -- the three calls services make --------------------------------------------------

    def post_inputs(
        self,
        inputs: Iterable[Input],
        *,
        dataset_ids: list[str] | None = None,
        conflict_resolution: ConflictResolution = ConflictResolution.SKIP,
        source: str = "api",
        job_id: str | None = None,
    ) -> list[str]:
        """Send inputs as upload requests within the batch limits, one shard of input ids per
        request (so requests spread over every partition); returns the request ids."""
        ids = []
        shard = _input_shard
        held = self.limits.batch_bytes
        for batch in shard_batches(inputs, shard, _inline_size, self.limits, held_bytes=held):
            request = UploadRequest(
                user_id=self.user_id,
                app_id=self.app_id,
                inputs=batch,
                dataset_ids=dataset_ids or [],
                conflict_resolution=conflict_resolution,
                source=source,
                job_id=job_id,
            )
            self.send(request)
            ids.append(request.request_id)
        return ids

    def report_prediction(self, event: PredictionEvent) -> str:
        self.send(event)
        return event.event_id

    def create_dataset_version(self, dataset_id: str, **fields: Any) -> str:
        request = SnapshotRequest(
            user_id=self.user_id, app_id=self.app_id, dataset_id=dataset_id, **fields
        )
        self.send(request)
        return request.version_id

    # -- plumbing -----------------------------------------------------------------------

    def send(self, event: BaseModel) -> None:
        """Produce any event to the topic of its type (claim-checking upload media)."""
        if isinstance(event, UploadRequest):
            event = self._claim_check(event)
        value = event.model_dump_json().encode()
        if len(value) > self.message_budget:
            raise ValueError(
                f"{type(event).__name__} is {len(value)} bytes as JSON, over the "
                f"{self.message_budget}-byte message budget; configure a blob store for "
                "claim checks or send fewer inputs per request"
            )
        key = key_for(event)
        topic = self.topic_prefix + topic_for(event)
        future = self.producer.send(
            topic,
            key=key.encode() if key else None,
            value=value,
            partition=partition_for(event, self._partition_count(topic)),
        )
        self._pending.append(future)
        if len(self._pending) > 10_000:  # keep only what has not been confirmed yet
            self._raise_failures(done_only=True)

    def _partition_count(self, topic: str) -> int:
        # 0 (unknown yet): the key's hash picks the partition instead.
        if topic not in self._partitions:
            found = self.producer.partitions_for(topic)
            if not found:
                return 0
            self._partitions[topic] = len(found)
        return self._partitions[topic]

    def _claim_check(self, request: UploadRequest) -> UploadRequest:
        """Move inline media to the blob store until the request fits in one message."""
        budget = self.message_budget // max(1, len(request.inputs)) // 2
        if all(_inline_size(i) * 4 // 3 <= budget for i in request.inputs):
            return request
        if self.blobs is None:
            return request  # send() reports the size problem with a clear message
        inputs = [self._checked(item, budget) for item in request.inputs]
        return request.model_copy(update={"inputs": inputs})

    def _checked(self, item: Input, budget: int) -> Input:
        data = item.data
        for field in ("image", "video", "audio", "text"):
            media = getattr(data, field)
            raw = _raw_of(media)
            if raw is None or len(raw) * 4 // 3 <= budget:
                continue
            assert self.blobs is not None
            key = blob_key(self.user_id, self.app_id, sha256_hex(raw), sniff(raw[:64]).extension)
            self.blobs.put(key, raw)
            ref: Media | Text = Text(blob_key=key) if field == "text" else Media(blob_key=key)
            return item.model_copy(update={"data": data.model_copy(update={field: ref})})
        return item

    def flush(self, timeout: float | None = None) -> None:
        """Wait until the broker has every event sent so far; raise if any was refused."""
        self.producer.flush(timeout)
        self._raise_failures(done_only=False)

    def _raise_failures(self, done_only: bool) -> None:
        # kafka-python's flush() does not raise for records that failed after their retries.
        failed = [f for f in self._pending if f.is_done and f.failed()]
        self._pending = [f for f in self._pending if not f.is_done] if done_only else []
        if failed:
            raise RuntimeError(
                f"{len(failed)} event(s) were not accepted by the broker: {failed[0].exception}"
            )

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.producer.close()

    def __enter__(self) -> IngestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _raw_of(media: Media | Text | None) -> bytes | None:
    if media is None:
        return None
    if isinstance(media, Text) and media.raw is not None:
        return media.raw.encode("utf-8")
    return media.base64 if isinstance(media.base64, bytes) else None


def _input_shard(item: Input) -> int:
    return shard_of_id(item.id) if item.id else -1  # no id: any request, no order needed


def _inline_size(item: Input) -> int:
    _, media = item.data.media()
    raw = _raw_of(media)
    return len(raw) if raw is not None else 256
