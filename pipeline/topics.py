"""The topic table: each topic's name, the event it carries, its ordering key and its stage.

Both transports, the producer client and the CLI read this one table (../../docs/
architecture.md, "Topics"). Follow-up events are routed by their type: each event type is
carried by exactly one topic.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.events import DeadLetter, MediaTask, PredictionEvent, SnapshotRequest, UploadRequest
from pipeline.models import Strict

PREDICTIONS = "ingestd.predictions"
UPLOADS = "ingestd.uploads"
MEDIA = "ingestd.media"
SNAPSHOTS = "ingestd.snapshots"
DEADLETTER = "ingestd.deadletter"

UPLOAD_SHARDS = 64
"""Upload requests are keyed `<user>/<app>/<shard>`, shard = CRC-32 of the first input id
(of the request id when no input has one) modulo this. Part of the wire format: every
producer of one deployment must use the same value, or requests for one id may be handled
out of order (still correctly: the catalog decides races, see ingest/stage.py)."""


@dataclass(frozen=True)
class Topic:
    name: str
    event: type[Strict]
    key: Callable[[Any], str | None]
    """The ordering key of an event on this topic: events with one key are handled in order."""
    stage: str | None
    """The stage that consumes the topic (None: nobody; dead letters are read by people)."""


TOPICS: tuple[Topic, ...] = (
    Topic(UPLOADS, UploadRequest, lambda e: upload_key(e), "ingest"),
    Topic(PREDICTIONS, PredictionEvent, lambda e: e.model.version_id, "collect"),
    Topic(SNAPSHOTS, SnapshotRequest, lambda e: e.dataset_id, "snapshot"),
    Topic(MEDIA, MediaTask, lambda e: e.input_id, "media"),
    Topic(DEADLETTER, DeadLetter, lambda e: e.origin_key, None),
)
_BY_NAME = {t.name: t for t in TOPICS}
_BY_EVENT = {t.event: t for t in TOPICS}

EVENTS: dict[str, type[Strict]] = {t.event.__name__: t.event for t in TOPICS}
"""Every event by name, as `ingestd schema` prints them."""


def shard_of_id(input_id: str) -> int:
    """The shard of an input id: requests for one id share a key, so they stay in order."""
    return zlib.crc32(input_id.encode()) % UPLOAD_SHARDS


def upload_key(request: UploadRequest) -> str:
    return f"{request.user_id}/{request.app_id}/{upload_shard(request)}"


def upload_shard(request: UploadRequest) -> int:
    """The shard of an upload request (the importers and the producer client send one
    shard's inputs per request)."""
    first = next((item.id for item in request.inputs if item.id), None)
    return shard_of_id(first or request.request_id)


def partition_for(event: object, partitions: int) -> int | None:
    """The partition an upload request goes to: its shard modulo the partitions, an even
    spread for any app (hashing 64 keys would load one of 4 partitions with up to ~40 %).
    None for other events: the key's hash decides."""
    if isinstance(event, UploadRequest) and partitions > 0:
        return upload_shard(event) % partitions
    return None


class UnroutableEvent(ValueError):
    """No topic carries events of this type (a stage returned something it should not)."""


def topic_named(name: str) -> Topic | None:
    """The topic of that (unprefixed) name, or None."""
    return _BY_NAME.get(name)


def topic_of(event: object) -> Topic:
    """The topic that carries this event; UnroutableEvent when none does."""
    topic = _BY_EVENT.get(type(event))  # type: ignore[arg-type]
    if topic is None:
        raise UnroutableEvent(f"no topic carries {type(event).__name__} events")
    return topic


def topic_for(event: object) -> str:
    """The name of the topic that carries this event."""
    return topic_of(event).name


def key_for(event: object) -> str | None:
    """The ordering key of an event, as the topic table says."""
    return topic_of(event).key(event)
