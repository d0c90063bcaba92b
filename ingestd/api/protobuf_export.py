"""The CLARIFAI_DATA_PROTOBUF export of a dataset version: what the SDK's `Dataset.export`
reads (clarifai/datasets/export/inputs_annotations.py).

A zip holding a `mimetype` entry (`application/x.clarifai-data+protobuf`) and serialized
`InputBatch` messages named `all/<n>_n<inputs in it>`. Each input carries its concepts,
regions, frames, metadata and geo from the version's manifest, and its medium as a `hosted`
URL on serve's HTTP port (media_links.py), which the SDK then downloads with the app's key;
the media are not in the zip. Built a batch at a time from the manifest (memory stays at one
batch), with fixed timestamps, so the same version and base URL give the same bytes.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as res
from google.protobuf import json_format

from ingestd.api import media_links
from ingestd.api.convert import to_struct
from pipeline.errors import TransientError
from pipeline.ports import BlobStore
from pipeline.snapshot.export import failed_export, ready_export
from pipeline.snapshot.manifest import read_manifest
from pipeline.snapshot.ports import VersionRow

PROTOBUF = "CLARIFAI_DATA_PROTOBUF"
MIMETYPE = b"application/x.clarifai-data+protobuf"
_BATCH = 128  # inputs per InputBatch entry
_EPOCH = (1980, 1, 1, 0, 0, 0)
_KINDS = ("image", "video", "audio", "text")


def build(
    manifest: Path, row: VersionRow, blobs: BlobStore, prefix: str, workdir: Path, base_url: str
) -> dict[str, Any]:
    """Build the archive, put it in the blob store and return its export_info entry (a
    failure is an entry with DATA_DUMP_EXPORT_FAILED, as for the other formats)."""
    tag = hashlib.sha256(base_url.encode()).hexdigest()[:8]  # other URLs, other bytes
    key = f"{prefix}/export-{(row.content_hash or '')[:32]}-protobuf-{tag}.zip"
    out = workdir / "export-protobuf.zip"
    try:
        count = write_archive(manifest, out, row, base_url)
        blobs.put_file(key, out)
        size = out.stat().st_size
    except TransientError:
        raise
    except Exception as exc:  # a manifest line that is not an Input: this export fails
        return failed_export(PROTOBUF, exc)
    finally:
        out.unlink(missing_ok=True)
    return ready_export(PROTOBUF, key, size, base_url=base_url, inputs_count=count)


def write_archive(manifest: Path, out: Path, row: VersionRow, base_url: str) -> int:
    """The zip at `out`; the number of inputs in it."""
    count = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        _put(zf, "mimetype", MIMETYPE, zipfile.ZIP_STORED)
        for n, batch in enumerate(_batches(manifest, row, base_url)):
            name = f"all/{n:06d}_n{len(batch.inputs)}"
            _put(zf, name, batch.SerializeToString(deterministic=True), zipfile.ZIP_DEFLATED)
            count += len(batch.inputs)
    return count


def _batches(manifest: Path, row: VersionRow, base_url: str) -> Iterator[res.InputBatch]:
    batch = res.InputBatch()
    for line in read_manifest(manifest):
        batch.inputs.append(input_message(line, row, base_url))
        if len(batch.inputs) == _BATCH:
            yield batch
            batch = res.InputBatch()
    if batch.inputs:
        yield batch


def input_message(line: dict[str, Any], row: VersionRow, base_url: str) -> res.Input:
    """One manifest line as the platform's `Input`: the version's annotations folded into
    its data (concepts once each, then regions and frames) and its medium as `hosted`."""
    msg = res.Input(id=line["id"], dataset_ids=[row.dataset_id])
    data, stored = msg.data, line["data"]
    kind = line.get("type")
    if kind in _KINDS:
        media = getattr(data, kind)
        media.SetInParent()
        if stored.get("url"):
            media.url = stored["url"]
        link = stored.get("blob_key") and media_links.hosted(
            base_url, row.user_id, row.app_id, stored["blob_key"]
        )
        if link:
            media.hosted.prefix, media.hosted.suffix = link
            media.hosted.sizes.append("orig")
        if kind == "image" and stored.get("width"):
            media.image_info.width = stored["width"]
            media.image_info.height = stored.get("height") or 0
            media.image_info.format = stored.get("format") or ""
    seen: set[str] = set()
    for ann in line.get("annotations") or ():
        shapes = res.Data()
        json_format.ParseDict(ann.get("data") or {}, shapes, ignore_unknown_fields=True)
        for concept in shapes.concepts:
            if concept.id not in seen:
                seen.add(concept.id)
                concept.name = concept.name or concept.id
                data.concepts.append(concept)
        data.regions.extend(shapes.regions)
        data.frames.extend(shapes.frames)
    if stored.get("metadata"):
        data.metadata.CopyFrom(to_struct(stored["metadata"]))
    point = (stored.get("geo") or {}).get("geo_point")
    if point:
        data.geo.geo_point.latitude = point["latitude"]
        data.geo.geo_point.longitude = point["longitude"]
    return msg


def _put(zf: zipfile.ZipFile, name: str, body: bytes, compress: int) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = compress
    zf.writestr(info, body)
