"""Drop-zone objects and archive members as import items: typed by content, ids from their origin.

An input id derives from bucket, key and member path, so listing the same objects again
(a re-run, a watch rescan, a duplicate notification) names the same inputs.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from pydantic import Field

from connectors.importers.files import check_not_empty, classify_file
from connectors.importers.items import ImportItem, item_or_failure
from pipeline.errors import InputError
from pipeline.ids import derived_id, fingerprint, sha256_hex, slug
from pipeline.models import Concept, Data, Input, Lineage, Media, MediaType, Strict, Text
from pipeline.sniff import sniff
from pipeline.status import StatusCode


class InputTemplate(Strict):
    """What every input of a job carries (the reference's `input_template`)."""

    concepts: list[Concept] = Field(default_factory=list)
    dataset_ids: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_reference(cls, value: dict[str, Any]) -> InputTemplate:
        """Accepts the platform's Input shape ({"data": {"concepts", "metadata"}, "dataset_ids"})
        as well as the flat one."""
        if "data" in value:
            data = value.get("data") or {}
            flat = {k: v for k, v in value.items() if k != "data"}
            return cls(concepts=data.get("concepts", []), metadata=data.get("metadata", {}), **flat)
        return cls(**value)

    def fingerprint(self) -> str:
        return fingerprint(self.model_dump(mode="json"))


@dataclass
class ObjectItem(ImportItem):
    """An ImportItem that remembers where it came from, for the ledger and the job's counters."""

    origin_id: str = ""
    origin: str = ""
    bucket: str = ""
    object_key: str = ""
    member: str | None = None
    etag: str = ""
    kind: str = "object"  # object, member, or archive (only when the archive itself failed)
    parent_id: str | None = None
    media_type: MediaType | None = None

    def lineage(self) -> Lineage | None:
        """s3://bucket/key (#member inside an archive) and the object's ETag."""
        if not self.origin:
            return None
        return Lineage(source_uri=self.origin, source_etag=self.etag or None)


def shown(text: str) -> str:
    """A key or member name safe to print: control characters escaped (no terminal tricks)."""
    if text.isprintable():
        return text
    return "".join(
        ch.encode("unicode_escape").decode() if unicodedata.category(ch).startswith("C") else ch
        for ch in text
    )


def origin_id(origin: str) -> str:
    return sha256_hex(origin.encode("utf-8"))


def input_id_for(bucket: str, key: str, member: str | None = None) -> str:
    """Readable (the key's tail, slugged) and unique (a hash of bucket, key and member)."""
    shown = f"{key}/{member}" if member is not None else key
    tail = slug(shown[-80:], max_len=80)
    return f"{tail}-{derived_id('s3', bucket, key, member or '')[:12]}"


def classify(name: str, head: bytes) -> MediaType | None:
    """Content first, the extension breaking ties (the folder importer's rule)."""
    return classify_file(PurePosixPath(name), head)


def build_item(
    base: ObjectItem,
    data: bytes,
    template: InputTemplate,
    *,
    replace_id: str | None,
    nested_archive: bool = False,
) -> ObjectItem:
    """The item for one object's or member's bytes: an input, or why it cannot be one."""
    built = item_or_failure(
        base.key,
        base.input_id_hint,
        lambda: _build(base, data, template, replace_id, nested_archive),
    )
    if built.error is not None:  # item_or_failure made a plain ImportItem: keep the origin
        return failed_item(base, built.error.code, built.error.message)
    return base


def _build(
    base: ObjectItem,
    data: bytes,
    template: InputTemplate,
    replace_id: str | None,
    nested_archive: bool,
) -> ObjectItem:
    name = base.member if base.member is not None else base.object_key
    head = data[:512]
    check_not_empty(data, PurePosixPath(name), base.key)
    if nested_archive:
        return failed_item(
            base,
            StatusCode.ARCHIVE_EXTRACT_FAILED,
            f"{base.key}: an archive inside an archive is not extracted (extract it first, "
            "or drop it into the bucket on its own)",
        )
    media_type = classify(name, head)
    if media_type is None:
        return failed_item(
            base,
            StatusCode.INPUT_UNSUPPORTED_FORMAT,
            f"{base.key}: {sniff(head).format}; neither its content nor its extension is a "
            "supported image, video, audio or text type",
        )
    medium: Media | Text = Text(base64=data) if media_type is MediaType.TEXT else Media(base64=data)
    payload = Data(
        **{media_type.value: medium},
        concepts=list(template.concepts),
        metadata=dict(template.metadata),
    )
    input_id = replace_id or base.input_id_hint
    base.input = Input(id=input_id, data=payload, replace=replace_id is not None)
    base.size = len(data)
    base.media_type = media_type
    return base


def failed_item(base: ObjectItem, code: StatusCode, message: str) -> ObjectItem:
    base.error = InputError(code, message)
    return base
