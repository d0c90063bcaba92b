"""Exports of a dataset version (COCO, CLARIFAI_DATA_JSON), zipped into the blob store.

Built from the version's manifest, never from the live dataset, so an export always shows
the frozen version. The zip is streamed entry by entry through temp files, with fixed
timestamps: the same version gives the same zip bytes and the same key.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pipeline.errors import TransientError
from pipeline.ports import BlobStore
from pipeline.snapshot.coco import CocoWriter
from pipeline.snapshot.manifest import read_manifest
from pipeline.status import StatusCode

COCO = "COCO"
JSON = "CLARIFAI_DATA_JSON"
FORMATS = {"coco": COCO, "json": JSON, COCO.lower(): COCO, JSON.lower(): JSON}
_EPOCH = (1980, 1, 1, 0, 0, 0)


def normalize_format(name: str) -> str:
    """COCO or CLARIFAI_DATA_JSON from what people type (coco, json, ...)."""
    found = FORMATS.get(name.strip().lower())
    if found is None:
        extra = " (protobuf exports are not supported)" if "protobuf" in name.lower() else ""
        raise ValueError(f"unknown export format {name!r}{extra}; use coco or json")
    return found


def normalize_formats(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        fmt = normalize_format(name)
        if fmt not in out:
            out.append(fmt)
    return out


def export_key(prefix: str, content_hash: str, fmt: str, include_media: bool) -> str:
    media = "" if include_media else "-nomedia"
    return f"{prefix}/export-{content_hash[:32]}-{fmt.lower()}{media}.zip"


def export_version(
    fmt: str,
    manifest: Path,
    version: dict[str, Any],
    blobs: BlobStore,
    prefix: str,
    workdir: Path,
    *,
    include_media: bool = True,
) -> dict[str, Any]:
    """Build one export zip, put it in the blob store and return its export_info entry."""
    key = export_key(prefix, version["content_hash"], fmt, include_media)
    out = workdir / f"export-{fmt.lower()}.zip"
    try:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            source = _Source(manifest, version, blobs, workdir, include_media)
            stats = _coco(zf, source) if fmt == COCO else _json(zf, source)
        blobs.put_file(key, out)
        size = out.stat().st_size
    except TransientError:
        raise
    except Exception as exc:  # a missing medium, an unreadable mask: this export fails
        return failed_export(fmt, exc)
    finally:
        out.unlink(missing_ok=True)
    return ready_export(fmt, key, size, include_media=include_media, **stats)


def failed_export(fmt: str, exc: Exception) -> dict[str, Any]:
    """The export_info entry of an export that could not be built."""
    return {
        "format": fmt,
        "status": {
            "code": int(StatusCode.DATA_DUMP_EXPORT_FAILED),
            "description": f"export failed: {type(exc).__name__}: {exc}",
        },
    }


def ready_export(fmt: str, key: str, size: int, **details: Any) -> dict[str, Any]:
    """The export_info entry of an export stored at `key`, with what else it says of itself."""
    return {
        "format": fmt,
        "status": {"code": int(StatusCode.DATA_DUMP_EXPORT_SUCCESS), "description": "ready"},
        "url": key,
        "size": size,
        **details,
    }


def media_name(line: dict[str, Any], folder: str) -> str:
    """Where an input's medium sits inside the zip: folder/<input id>.<extension>."""
    key = line["data"].get("blob_key") or ""
    tail = key.rsplit("/", 1)[-1]
    ext = tail.rsplit(".", 1)[-1] if "." in tail else (line["data"].get("format") or "bin")
    name = line["id"] if line["id"].lower().endswith(f".{ext.lower()}") else f"{line['id']}.{ext}"
    return f"{folder}/{name}"


@dataclass(frozen=True)
class _Source:
    """What an export is built from, and whether the media go into the zip."""

    manifest: Path
    version: dict[str, Any]
    blobs: BlobStore
    workdir: Path
    include_media: bool


def _coco(zf: zipfile.ZipFile, source: _Source) -> dict[str, Any]:
    version = source.version
    coco = CocoWriter(source.workdir, source.blobs.get)
    coco.build(source.manifest, lambda line: media_name(line, "images"))
    info = {
        "description": version.get("description") or f"dataset {version['dataset_id']}",
        "version": version["id"],
        "dataset_id": version["dataset_id"],
        "content_hash": version["content_hash"],
    }
    with _entry(zf, "annotations/instances_default.json") as fh:
        coco.write_document(fh, info)
    media = _media(zf, source, "images", images_only=True)
    return {
        "images_count": coco.images,
        "annotations_count": coco.annotations,
        "categories_count": len(coco.categories),
        "media_files": media,
        "skipped": dict(sorted(coco.skipped.items())),
    }


def _json(zf: zipfile.ZipFile, source: _Source) -> dict[str, Any]:
    count = 0
    with _entry(zf, "dataset.json") as fh:
        head = {"format": JSON, "dataset_version": source.version}
        fh.write(json.dumps(head, sort_keys=True).encode()[:-1] + b',"inputs":[')
        for line in read_manifest(source.manifest):
            if source.include_media and line["data"].get("blob_key"):
                line["file"] = media_name(line, "media")
            fh.write((b"," if count else b"") + json.dumps(line, sort_keys=True).encode())
            count += 1
        fh.write(b"]}")
    media = _media(zf, source, "media", images_only=False)
    return {"inputs_count": count, "media_files": media}


def _media(zf: zipfile.ZipFile, source: _Source, folder: str, images_only: bool) -> int:
    """Copy each input's medium into the zip, one temp file at a time (none without media)."""
    if not source.include_media:
        return 0
    n = 0
    tmp = source.workdir / "media.part"
    for line in read_manifest(source.manifest):
        key = line["data"].get("blob_key")
        if not key or (images_only and line.get("type") != "image"):
            continue
        source.blobs.download(key, tmp)
        info = zipfile.ZipInfo(media_name(line, folder), date_time=_EPOCH)
        info.compress_type = zipfile.ZIP_STORED  # media are compressed already
        with tmp.open("rb") as src, zf.open(info, "w", force_zip64=True) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        n += 1
    tmp.unlink(missing_ok=True)
    return n


@contextmanager
def _entry(zf: zipfile.ZipFile, name: str) -> Iterator[IO[bytes]]:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as fh:
        yield fh
