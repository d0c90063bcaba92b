"""What makes one input acceptable: its bytes load, they are what they claim, they fit.

`prepare_input` turns an `Input` of a request into a `PreparedInput` (bytes, content
address and the record to store) or raises `InputError` with the status code a person
can act on. It writes nothing; the ingest stage decides what to store. A large medium (a
URL body, a blob over SPOOL_BYTES or its limit) is a file in the work directory, hashed,
sniffed, probed and uploaded from there in pieces, never held in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pipeline.annotation_changes import annotation_record, content
from pipeline.annotations import check_annotation
from pipeline.errors import InputError
from pipeline.ids import blob_key, check_id, claim_prefixes, fingerprint, sha256_hex
from pipeline.ingest.checks import check_medium, size_of
from pipeline.limits import Limits
from pipeline.models import Input, Lineage, Media, MediaType, Text
from pipeline.ports import BlobStore, Fetcher
from pipeline.records import (
    AnnotationRecord,
    InputRecord,
    input_level_annotation,
)
from pipeline.status import StatusCode

SPOOL_BYTES = 32 * 2**20  # larger media are files in the work directory, never bytes
# Status codes per media type for the three ways an input can fail.
_FAILED = {MediaType.VIDEO: StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED}
_UNSUPPORTED = {MediaType.VIDEO: StatusCode.INPUT_VIDEO_UNSUPPORTED_FORMAT}
_OVER = {MediaType.VIDEO: StatusCode.INPUT_VIDEO_OVER_LIMIT}
# Query parameters that carry a credential (pre-signed S3/GCS/Azure URLs, API tokens).
_SECRET_PARAM = re.compile(
    r"x-(amz|goog)-(signature|credential|security-token)|signature|sig|"
    r"(access_|id_|auth_)?token|api[-_]?key|key|secret|password|passwd|auth",
    re.IGNORECASE,
)


@dataclass
class PreparedInput:
    record: InputRecord
    data: bytes | None  # the medium in memory, or None when it is in `path`
    path: Path | None = None  # a large medium downloaded from the blob store
    oversized: str | None = None  # why the media stage must split it


def check_metadata(metadata: Any, limits: Limits) -> dict[str, Any]:
    """Custom metadata must be a JSON object, not too large and not too deep."""
    if not isinstance(metadata, dict):
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT,
            f"metadata must be a JSON object, got {type(metadata).__name__}",
        )
    depth = _depth(metadata)  # first: encoding a hostile nesting would exhaust the stack
    if depth > limits.metadata_depth:
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT,
            f"metadata nests {depth} levels deep; the limit is {limits.metadata_depth}",
        )
    try:
        encoded = json.dumps(metadata, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN or Infinity (a number such as 1e999 parses as one)
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT,
            "metadata holds a number JSON cannot carry (NaN or Infinity; 1e999 overflows "
            "to Infinity): send it as a string",
        ) from None
    if len(encoded) > limits.metadata_bytes:
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT,
            f"metadata is {len(encoded)} bytes as JSON; the limit is {limits.metadata_bytes}",
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
    source: Media | Text,
    media_type: MediaType,
    blobs: BlobStore,
    fetcher: Fetcher,
    limits: Limits,
    workdir: Path | None = None,
) -> bytes | Path:
    """The raw bytes of a medium, from inline text, base64, a URL or the blob store.

    URL bodies are written to a file in the work directory as they arrive; a blob over
    SPOOL_BYTES or its type's limit is downloaded to one (or refused at once when oversized
    media are refused). A file that is small after all comes back as bytes; anything
    larger stays a file, read in pieces from then on, so a 1 GB video never sits in memory.
    """
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
        path = _work_file(workdir, "url-")
        fetched = fetcher.fetch_to(source.url, _max_fetch_bytes(media_type, limits), path)
        if fetched < _in_memory(media_type, limits):
            data = path.read_bytes()
            path.unlink()
            return data
        return path
    assert source.blob_key is not None
    if ".." in source.blob_key.split("/") or source.blob_key.startswith("/"):
        raise InputError(StatusCode.INPUT_INVALID_ARGUMENT, f"bad blob key {source.blob_key!r}")
    size = blobs.size(source.blob_key)
    if size is None:
        raise InputError(
            StatusCode.INPUT_DOES_NOT_EXIST,
            f"blob {source.blob_key!r} is not in the blob store {blobs.describe()}",
        )
    if size < _in_memory(media_type, limits):
        return blobs.get(source.blob_key)
    limit = _memory_limit(media_type, limits)
    if size >= limit and limits.oversized == "refuse":
        raise InputError(
            StatusCode.INPUT_OVER_LIMIT,
            f"{media_type.value} blob is {size / 2**20:.1f} MB; the limit is "
            f"{limit / 2**20:.0f} MB (INGESTD_LIMITS__OVERSIZED=split would split it)",
        )
    path = _work_file(workdir, "blob-")
    blobs.download(source.blob_key, path)
    return path


def _check_own_blob(key: str, user_id: str, app_id: str) -> None:
    """An upload may name only its own app's blobs: another app's key (or a version's, a
    dead letter's) is answered as absent, so the answer says nothing of what exists."""
    prefixes = claim_prefixes(user_id, app_id)
    if not key.startswith(prefixes) or ".." in key.split("/"):
        raise InputError(
            StatusCode.INPUT_DOES_NOT_EXIST,
            f"blob {key!r} is not one of this app's blobs (an upload may name keys under "
            f"{' or '.join(prefixes)})",
        )


def _work_file(workdir: Path | None, prefix: str) -> Path:
    # A fresh name per medium: the same URL or blob twice in a request must not share a file
    # an upload of the first may still be reading.
    fd, name = tempfile.mkstemp(dir=workdir, prefix=prefix)
    os.close(fd)
    return Path(name)


def _memory_limit(media_type: MediaType, limits: Limits) -> int:
    return {
        MediaType.IMAGE: limits.image_bytes,
        MediaType.VIDEO: limits.video_bytes,
        MediaType.AUDIO: limits.audio_bytes,
        MediaType.TEXT: limits.text_bytes,
    }[media_type]


def _in_memory(media_type: MediaType, limits: Limits) -> int:
    """Media under this size are handled as bytes; larger ones stay files."""
    return min(_memory_limit(media_type, limits), SPOOL_BYTES)


def _max_fetch_bytes(media_type: MediaType, limits: Limits) -> int:
    # Fetch one byte past the limit so "over the limit" can be told from "at the limit".
    return {
        MediaType.IMAGE: limits.image_bytes,
        MediaType.VIDEO: limits.video_url_bytes + 1,
        MediaType.AUDIO: limits.audio_bytes,
        MediaType.TEXT: limits.text_bytes,
    }[media_type]


def prepare_input(
    item: Input,
    input_id: str,
    *,
    user_id: str,
    app_id: str,
    blobs: BlobStore,
    fetcher: Fetcher,
    limits: Limits,
    workdir: Path | None = None,
) -> PreparedInput:
    """Load, recognise and check one input; raises InputError when it is not acceptable."""
    check_id(input_id)
    try:
        media_type, source = item.data.media()
    except ValueError as exc:  # no medium, or two: this input is refused, not the request
        raise InputError(StatusCode.INPUT_INVALID_ARGUMENT, str(exc)) from None
    metadata = check_metadata(item.data.metadata, limits)
    if source.blob_key is not None:
        _check_own_blob(source.blob_key, user_id, app_id)
    try:
        data = load_bytes(source, media_type, blobs, fetcher, limits, workdir)
        checked = check_medium(data, media_type, limits, bool(source.url), workdir)
    except InputError as exc:
        raise _typed(exc, media_type) from None
    sniffed, width, height = checked.sniffed, checked.width, checked.height
    digest = _digest(data)
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
        size=size_of(data),
        width=width,
        height=height,
        source_url=stored_url(source.url),
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
    if isinstance(data, Path):
        return PreparedInput(record, None, path=data, oversized=checked.oversized)
    return PreparedInput(record, data, oversized=checked.oversized)


def stored_url(url: str | None) -> str | None:
    """The URL kept in the catalog (and so in exports): where the medium came from, without
    what let us read it: no user:password@, no credential query parameters."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None  # unreadable, so nothing in it can be told safe to keep
    query = "&".join(
        p for p in parts.query.split("&") if not _SECRET_PARAM.fullmatch(unquote(p.split("=")[0]))
    )
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def stamp_lineage(record: InputRecord, run_id: str | None, lineage: Lineage | None) -> None:
    """Where the input came from, onto its record: the run, its source (credentials removed
    from URLs, whoever sent them), the capture."""
    record.run_id = run_id
    if lineage is None:
        return
    uri = lineage.source_uri
    record.source_uri = stored_url(uri) if uri and "://" in uri else uri
    record.source_etag = lineage.source_etag
    record.collector_id = lineage.collector_id
    record.event_id = lineage.event_id


def _digest(data: bytes | Path) -> str:
    if isinstance(data, bytes):
        return sha256_hex(data)
    with data.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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


def dataset_ids_of(*groups: list[str]) -> list[str]:
    """The dataset ids of an input: the request's then its own, checked, each once."""
    ids: list[str] = []
    for group in groups:
        for dataset_id in group:
            check_id(dataset_id, "dataset id")
            if dataset_id not in ids:
                ids.append(dataset_id)
    return ids


def annotations_of(user_id: str, item: Input, record: InputRecord) -> list[AnnotationRecord]:
    """The input-level annotation (its concepts) plus the annotations sent with it, each
    checked (pipeline/annotations.py): one that breaks a rule fails the input."""
    out: dict[str, AnnotationRecord] = {}
    if record.concepts:
        level = input_level_annotation(record, user_id)
        out[level.id] = level
    for n, ann in enumerate(item.annotations):
        shown = f"annotation {ann.id!r}" if ann.id else f"annotation #{n}"
        check_annotation(ann, shown)
        # Ids from the input and the content: the same annotation sent twice is one record.
        sent = annotation_record(ann, user_id=user_id, app_id=record.app_id, input_id=record.id)
        if sent.id in out and content(out[sent.id]) != content(sent):
            raise InputError(
                StatusCode.DATABASE_DUPLICATE_KEY,
                f"{shown}: two annotations of this input have id {sent.id!r}; give each its own",
            )
        out[sent.id] = sent
    return list(out.values())
