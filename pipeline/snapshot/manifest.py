"""The manifest of a dataset version: one canonical JSON line per input, sorted by input id.

Each line holds the input's data references and its selected annotations. The content
hash is the sha256 of the manifest bytes, so the same dataset state under the same filter
always gives the same hash. Lines go to a temp file as they come: never held in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import orjson

MANIFEST_FORMAT = "ingestd.manifest/1"

_DATA_KEYS = ("blob_key", "sha256", "format", "size", "width", "height", "metadata", "geo")
_ANN_KEYS = ("user_id", "status", "model_version_id", "task_id")

_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def encode_line(line: dict[str, Any]) -> bytes:
    """Canonical bytes of a manifest line: sorted keys, no spaces, UTF-8, a newline."""
    return orjson.dumps(line, option=_SORTED)


@dataclass
class SnapshotMember:
    """One input of the dataset as read from the catalog, with all its annotations.

    `input` has id, media_type, blob_key, sha256, format, size, width, height, source_url,
    metadata, geo; each annotation has id, user_id, status, model_version_id, task_id, data,
    annotation_info.
    """

    input: dict[str, Any]
    annotations: list[dict[str, Any]]


def manifest_line(member: SnapshotMember, annotations: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest entry of one input with the annotations the filter kept."""
    row = member.input
    data: dict[str, Any] = {k: row[k] for k in _DATA_KEYS if row.get(k) not in (None, {})}
    if row.get("source_url"):
        data["url"] = row["source_url"]
    anns = []
    for a in sorted(annotations, key=_by_id):
        entry: dict[str, Any] = {"id": a["id"], "data": a["data"]}
        for k in _ANN_KEYS:
            if a.get(k) is not None:
                entry[k] = a[k]
        if a.get("annotation_info"):  # only when set: versions without any keep their hash
            entry["annotation_info"] = a["annotation_info"]
        anns.append(entry)
    return {"id": row["id"], "type": row.get("media_type"), "data": data, "annotations": anns}


def _by_id(a: dict[str, Any]) -> str:
    return str(a["id"])


class ManifestWriter:
    """Streams manifest lines to a file, hashing them as they go; checks the sort order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO = path.open("wb")
        self._hash = hashlib.sha256()
        self.lines = 0
        self.size = 0
        self._last_id: str | None = None

    def write(self, line: dict[str, Any]) -> None:
        input_id = line["id"]
        if self._last_id is not None and input_id <= self._last_id:
            # The catalog must hand inputs over in id order; anything else is a bug.
            raise RuntimeError(f"manifest out of order: {input_id!r} after {self._last_id!r}")
        self._last_id = input_id
        data = encode_line(line)
        self._fh.write(data)
        self._hash.update(data)
        self.lines += 1
        self.size += len(data)

    @property
    def content_hash(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_manifest(path: Path) -> Iterator[dict[str, Any]]:
    """The lines of a manifest file, one at a time."""
    with path.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                yield orjson.loads(raw)


def version_prefix(user_id: str, app_id: str, dataset_id: str, version_id: str) -> str:
    """Where a version's blobs live; ids are checked (no separators) before they get here."""
    return f"versions/{user_id}/{app_id}/{dataset_id}/{version_id}"


def manifest_key(prefix: str, content_hash: str) -> str:
    # The hash is part of the key: a late duplicate run with other content can never
    # overwrite the manifest a ready version points at.
    return f"{prefix}/manifest-{content_hash[:32]}.jsonl"
