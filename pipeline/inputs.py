"""What makes one input acceptable: its bytes load, they are what they claim, they fit.

`prepare_input` turns an `Input` of a request into a `PreparedInput` (bytes, content
address and the record to store) or raises `InputError` with the status code a person
can act on. It writes nothing; the ingest stage decides what to store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.errors import InputError
from pipeline.ids import blob_key, check_id, fingerprint, sha256_hex
from pipeline.limits import AUDIO_FORMATS, VIDEO_FORMATS, Limits
from pipeline.media import Sniffed, check_image, check_text, sniff
from pipeline.models import Input, Media, MediaType, Text
from pipeline.ports import BlobStore, Fetcher
from pipeline.records import InputRecord
from pipeline.status import StatusCode

# Status codes per media type for the three ways an input can fail.
_FAILED = {MediaType.VIDEO: StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED}
_UNSUPPORTED = {MediaType.VIDEO: StatusCode.INPUT_VIDEO_UNSUPPORTED_FORMAT}
_OVER = {MediaType.VIDEO: StatusCode.INPUT_VIDEO_OVER_LIMIT}


@dataclass
class PreparedInput:
    record: InputRecord
    data: bytes


def check_metadata(metadata: Any, limits: Limits) -> dict[str, Any]:
    """Custom metadata must be a JSON object, not too large and not too deep."""
    if not isinstance(metadata, dict):
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT,
            f"metadata must be a JSON object, got {type(metadata).__name__}",
        )
    encoded = json.dumps(metadata, separators=(",", ":"))
    if len(encoded) > limits.metadata_bytes:
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT,
            f"metadata is {len(encoded)} bytes as JSON; the limit is {limits.metadata_bytes}",
        )
    depth = _depth(metadata)
    if depth > limits.metadata_depth:
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT,
            f"metadata nests {depth} levels deep; the limit is {limits.metadata_depth}",
        )
    return metadata


def _depth(value: Any) -> int:
    # Iterative, so hostile nesting cannot exhaust the interpreter's stack.
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in node)
    return deepest


def load_bytes(
    source: Media | Text, media_type: MediaType, blobs: BlobStore, fetcher: Fetcher, limits: Limits
) -> bytes:
    """The raw bytes of a medium, from inline text, base64, a URL or the blob store."""
    if isinstance(source, Text) and source.raw is not None:
        return source.raw.encode("utf-8")
    if source.base64 is not None:
        if isinstance(source.base64, str):  # text that did not decode when the event was read
            raise InputError(
                StatusCode.INPUT_INVALID_ARGUMENT,
                f"invalid base64 data (starts {source.base64[:16]!r}): use standard base64 "
                "with padding and no line breaks",
            )
        return source.base64
    if source.url is not None:
        return fetcher.fetch(source.url, _max_fetch_bytes(media_type, limits))
    assert source.blob_key is not None
    if ".." in source.blob_key.split("/") or source.blob_key.startswith("/"):
        raise InputError(StatusCode.INPUT_INVALID_ARGUMENT, f"bad blob key {source.blob_key!r}")
    if not blobs.exists(source.blob_key):
        raise InputError(
            StatusCode.INPUT_DOES_NOT_EXIST,
            f"blob {source.blob_key!r} is not in the blob store {blobs.describe()}",
        )
    return blobs.get(source.blob_key)


def _max_fetch_bytes(media_type: MediaType, limits: Limits) -> int:
    # Fetch one byte past the limit so "over the limit" can be told from "at the limit".
    return {
        MediaType.IMAGE: limits.image_bytes,
        MediaType.VIDEO: limits.video_url_bytes + 1,
        MediaType.AUDIO: limits.audio_bytes,
        MediaType.TEXT: limits.text_bytes,
    }[media_type]


def check_media(
    data: bytes, declared: MediaType, limits: Limits, by_url: bool
) -> tuple[Sniffed, int | None, int | None]:
    """Check the bytes are the declared type in a supported format and within limits."""
    found = sniff(data[:64])
    if declared is MediaType.TEXT:
        check_text(data, limits)
        return Sniffed(MediaType.TEXT, "TXT"), None, None
    if found.media_type is not declared:
        what = f"{found.media_type.value} ({found.format})" if found.media_type else found.format
        raise InputError(
            _UNSUPPORTED.get(declared, StatusCode.INPUT_UNSUPPORTED_FORMAT),
            f"declared as {declared.value} but the content is {what}",
        )
    if declared is MediaType.IMAGE:
        fmt, width, height = check_image(data, limits)
        return Sniffed(MediaType.IMAGE, fmt), width, height
    if declared is MediaType.VIDEO:
        if found.format not in VIDEO_FORMATS:
            raise InputError(
                StatusCode.INPUT_VIDEO_UNSUPPORTED_FORMAT,
                f"video format {found.format} is not supported; use one of "
                f"{', '.join(sorted(VIDEO_FORMATS))}",
            )
        limit = limits.video_url_bytes + 1 if by_url else limits.video_bytes
        if len(data) >= limit:
            how = "fetched by URL" if by_url else "sent as bytes"
            raise InputError(
                StatusCode.INPUT_VIDEO_OVER_LIMIT,
                f"video {how} is {len(data) / 2**20:.1f} MB; the limit is "
                f"{limit / 2**20:.0f} MB (oversized video is split by the media stage)",
            )
        return found, None, None
    if found.format not in AUDIO_FORMATS:
        raise InputError(
            StatusCode.INPUT_UNSUPPORTED_FORMAT,
            f"audio format {found.format} is not supported; convert it to WAV",
        )
    if len(data) >= limits.audio_bytes:
        raise InputError(
            StatusCode.INPUT_OVER_LIMIT,
            f"audio is {len(data) / 2**20:.1f} MB; WAV audio must be under "
            f"{limits.audio_bytes / 2**20:.0f} MB",
        )
    return found, None, None


def prepare_input(
    item: Input,
    input_id: str,
    *,
    user_id: str,
    app_id: str,
    blobs: BlobStore,
    fetcher: Fetcher,
    limits: Limits,
) -> PreparedInput:
    """Load, recognise and check one input; raises InputError when it is not acceptable."""
    check_id(input_id)
    media_type, source = item.data.media()
    metadata = check_metadata(item.data.metadata, limits)
    try:
        data = load_bytes(source, media_type, blobs, fetcher, limits)
    except InputError as exc:
        raise _typed(exc, media_type) from None
    try:
        sniffed, width, height = check_media(data, media_type, limits, by_url=bool(source.url))
    except InputError as exc:
        raise _typed(exc, media_type) from None
    digest = sha256_hex(data)
    concepts = [c.model_dump(exclude_none=True) for c in item.data.concepts]
    geo = item.data.geo.model_dump() if item.data.geo else None
    record = InputRecord(
        user_id=user_id,
        app_id=app_id,
        id=input_id,
        media_type=media_type.value,
        status_code=StatusCode.INPUT_SUCCESS,
        format=sniffed.format,
        blob_key=blob_key(user_id, app_id, digest, sniffed.extension),
        sha256=digest,
        size=len(data),
        width=width,
        height=height,
        source_url=source.url,
        concepts=concepts,
        metadata=metadata,
        geo=geo,
    )
    record.fingerprint = fingerprint(
        {
            "type": record.media_type,
            "sha256": digest,
            "concepts": concepts,
            "metadata": metadata,
            "geo": geo,
            "annotations": [a.model_dump(mode="json") for a in item.annotations],
        }
    )
    return PreparedInput(record=record, data=data)


def _typed(exc: InputError, media_type: MediaType) -> InputError:
    """Video failures use the 31xxx family, as the reference does."""
    if media_type is not MediaType.VIDEO:
        return exc
    mapping = {
        StatusCode.INPUT_FAILED: _FAILED,
        StatusCode.INPUT_UNSUPPORTED_FORMAT: _UNSUPPORTED,
        StatusCode.INPUT_OVER_LIMIT: _OVER,
    }
    table = mapping.get(exc.code)
    return InputError(table[media_type], exc.message) if table else exc
