"""The COCO importer's lister: one input per COCO image, its annotations attached.

The source is a COCO instances JSON beside its images folder, or a zip holding both
(extracted through `archives.py`, which refuses hostile archives whole). The JSON is
indexed first (`coco_index.py`), so a broken file imports nothing. Then, per image:

- a missing or unreadable image file fails that image with its code (30102, 30103);
- an annotation that cannot be imported (unknown category id, bad geometry) is a failure of
  its own, keyed `<file_name>#annotation=<id>` with 24155; the image goes in with its other
  annotations, and `--retry-failed` sends the image again as an update (`replace`), so the
  fixed annotation is added;
- annotations on image ids the file does not list fail with 24155, keyed `annotation=<id>`.
"""

from __future__ import annotations

import io
import json
import posixpath
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from PIL import Image

from connectors.importers.archives import ArchiveRefused, extract_archive
from connectors.importers.coco_index import CocoCategory, CocoImage, CocoIndex, build_index, id_key
from connectors.importers.coco_shapes import to_annotation
from connectors.importers.dropzone_config import ArchiveLimits
from connectors.importers.files import data_from_bytes
from connectors.importers.folder import input_id_for
from connectors.importers.items import ImportItem
from connectors.importers.local_paths import read_local_file
from pipeline.errors import InputError
from pipeline.ids import derived_id, slug
from pipeline.models import Input, MediaType
from pipeline.status import StatusCode

ANNOTATION_KEY = "#annotation="
_PROBE = 5  # images whose files decide which folder the file names are relative to


@dataclass
class CocoSource:
    """An indexed COCO file and how to read the image a `file_name` names."""

    index: CocoIndex
    read_image: Callable[[str], bytes]  # raises InputError
    images_root: str  # the images folder, resolved (or `zip path:prefix`): part of input ids

    def close(self) -> None:
        self.index.db.close()


def open_coco(
    path: Path, images: Path | None, workdir: Path, archive_limits: ArchiveLimits
) -> CocoSource:
    """Index a COCO JSON (or a zip of one and its images); raises ValueError or InputError."""
    if zipfile.is_zipfile(path):
        return _open_zip(path, images, workdir, archive_limits)
    index = build_index(path, workdir)
    names = index.first_file_names(_PROBE)
    if images is not None:
        root = images
    else:
        roots = [path.parent / "images", path.parent]
        stem = path.stem.removeprefix("instances_")
        roots += [path.parent.parent / "images", path.parent.parent / stem, path.parent.parent]
        root = next((r for r in roots if _has_any(r, names)), roots[0])
    return CocoSource(
        index, lambda name: read_local_file(root, name, shown=name), str(root.resolve())
    )


def _has_any(root: Path, names: list[str]) -> bool:
    return root.is_dir() and any((root / n).is_file() for n in names)


def _open_zip(path: Path, images: Path | None, workdir: Path, limits: ArchiveLimits) -> CocoSource:
    members = {m.name: m.path for m in extract_archive(path, "zip", workdir / "members", limits)}
    jsons = [n for n in members if n.lower().endswith(".json")]
    if len(jsons) > 1:
        jsons = [n for n in jsons if "instances" in posixpath.basename(n)] or jsons
    if len(jsons) != 1:
        found = ", ".join(sorted(jsons)[:5]) or "none"
        raise ArchiveRefused(
            f"{path.name} must hold exactly one COCO instances .json file (found: {found})"
        )
    index = build_index(members[jsons[0]], workdir)
    if images is not None:  # the zip holds only the JSON
        shown_root = str(images.resolve())
        return CocoSource(index, lambda n: read_local_file(images, n, shown=n), shown_root)
    names = index.first_file_names(_PROBE)
    here = posixpath.dirname(jsons[0])
    up = posixpath.dirname(here)
    stem = posixpath.splitext(posixpath.basename(jsons[0]))[0].removeprefix("instances_")
    prefixes = [posixpath.join(d, "") for d in (posixpath.join(here, "images"), here)]
    prefixes += [
        posixpath.join(d, "") for d in (posixpath.join(up, "images"), posixpath.join(up, stem), up)
    ]
    prefixes = [p.lstrip("/") for p in prefixes]
    prefix = next(
        (p for p in prefixes if any(_member(p, n) in members for n in names)), prefixes[0]
    )

    def read(name: str) -> bytes:
        member = _member(prefix, name)
        if member is None:
            raise InputError(
                StatusCode.INPUT_PERMISSION_DENIED,
                f"{name} leads outside the archive's images folder; only its members are read",
            )
        found = members.get(member)
        if found is None:
            raise InputError(StatusCode.INPUT_DOES_NOT_EXIST, f"no member {member} in {path.name}")
        return found.read_bytes()

    return CocoSource(index, read, f"{path.resolve()}:{prefix or '/'}")


def _member(prefix: str, name: str) -> str | None:
    joined = posixpath.normpath(posixpath.join(prefix, name.replace("\\", "/")))
    if name.startswith("/") or joined == ".." or joined.startswith("../"):
        return None
    return joined


def concepts_of(categories: dict[str, CocoCategory]) -> dict[str, dict[str, Any]]:
    """A concept per category: its id from the name; two names of one slug stay apart."""
    out: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for key, cat in categories.items():
        cid = slug(cat.name, max_len=120)
        if cid in taken:
            cid = f"{cid}-{slug(str(cat.id), max_len=40)}"
        taken.add(cid)
        out[key] = {"id": cid, "name": cat.name, "value": 1.0}
    return out


@dataclass
class _Retry:
    """Which items a failure report asks for again: images, and images of failed annotations."""

    images: set[str] = field(default_factory=set)
    annotated: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, keys: set[str]) -> _Retry:
        retry = cls()
        for key in keys:
            if ANNOTATION_KEY in key:
                retry.annotated.add(key.split(ANNOTATION_KEY, 1)[0])
            else:
                retry.images.add(key)
        return retry


def iter_coco_items(
    source: CocoSource,
    *,
    metadata: dict[str, Any] | None = None,
    keys: set[str] | None = None,
    max_pixels: int = 85_000_000,
) -> Iterator[ImportItem]:
    """One ImportItem per image, plus one failed item per annotation that cannot go in."""
    index = source.index
    concepts = concepts_of(index.categories)
    retry = _Retry.of(keys) if keys is not None else None
    lister = _Lister(source, concepts, dict(metadata or {}), max_pixels)
    for image in index.iter_images():
        name = image.raw.get("file_name") if isinstance(image.raw, dict) else None
        named = isinstance(name, str) and bool(name)
        key = str(name) if named else f"images[{image.seq}]"
        replace = False
        if retry is not None:
            if key in retry.annotated:
                replace = True  # stored before without the annotation that failed: update it
            elif key not in retry.images:
                continue
        yield from lister.items(image, key, named=named, replace=replace)
    for ann in index.orphan_annotations():
        key = f"annotation={ann.raw.get('id') if isinstance(ann.raw, dict) else ann.seq}"
        if keys is not None and key not in keys:
            continue
        image_id = ann.raw.get("image_id") if isinstance(ann.raw, dict) else None
        yield ImportItem.failed(
            key,
            StatusCode.ANNOTATION_INVALID_ARGUMENT,
            f"annotations[{ann.seq}] refers to image id {image_id!r:.40}, which the file's "
            "images list does not have",
        )


@dataclass
class _Lister:
    source: CocoSource
    concepts: dict[str, dict[str, Any]]  # category key -> the concept, as the model's dict
    metadata: dict[str, Any]
    max_pixels: int

    def items(
        self, image: CocoImage, key: str, *, named: bool, replace: bool
    ) -> Iterator[ImportItem]:
        raw = image.raw
        if not named:
            yield ImportItem.failed(
                key, StatusCode.INPUT_INVALID_ARGUMENT, f"{key} needs an id and a file_name"
            )
            return
        # As `import folder` names the same file (the images folder is part of the id).
        input_id = input_id_for(Path(self.source.images_root), key)
        if image.key is None or image.duplicate_of is not None:
            why = (
                "has no id"
                if image.key is None
                else f"repeats images[{image.duplicate_of}]'s id or file_name"
            )
            yield ImportItem.failed(
                key, StatusCode.INPUT_INVALID_ARGUMENT, f"{key}: images[{image.seq}] {why}"
            )
            return
        try:
            data = self.source.read_image(key)
            size = _size(raw, data, key)
        except InputError as exc:
            yield ImportItem.failed(key, exc.code, exc.message, input_id)
            return
        annotations: list[dict[str, Any]] = []
        seen: set[str] = set()
        for ann in self.source.index.annotations_of(image.key):
            ann_key = f"{key}{ANNOTATION_KEY}{ann.raw.get('id', ann.seq)}"
            try:
                made = self._annotation(ann.raw, input_id, size)
                if made["id"] is not None and made["id"] in seen:
                    raise InputError(
                        StatusCode.ANNOTATION_INVALID_ARGUMENT,
                        "its id repeats an earlier annotation of this image",
                    )
            except InputError as exc:
                yield ImportItem.failed(
                    ann_key,
                    exc.code,
                    f"annotation {ann.raw.get('id')!r:.40} of {key}: {exc.message}",
                )
                continue
            annotations.append(made)
            seen.add(made["id"] or "")
        media, nbytes = data_from_bytes(data, MediaType.IMAGE)
        media.metadata = dict(self.metadata)
        item = Input(id=input_id, data=media, annotations=[], replace=replace)
        # Held as JSON text until the request is built (ImportItem.annotations_json).
        text = _json(annotations)
        yield ImportItem(key=key, input=item, size=nbytes + len(text), annotations_json=text)

    def _annotation(
        self, raw: dict[str, Any], input_id: str, size: tuple[int, int]
    ) -> dict[str, Any]:
        category = raw.get("category_id")
        concept = self.concepts.get(id_key(category) or "")
        if concept is None:
            known = ", ".join(str(c.id) for c in list(self.source.index.categories.values())[:10])
            raise InputError(
                StatusCode.ANNOTATION_INVALID_ARGUMENT,
                f"unknown category id {category!r:.40} (the file's categories: {known or 'none'})",
            )
        ann_key = id_key(raw.get("id"))
        ann_id = derived_id("coco", input_id, ann_key) if ann_key is not None else None
        return to_annotation(raw, concept, category, size, ann_id, self.max_pixels)


def _json(annotations: list[dict[str, Any]]) -> bytes:
    try:
        return orjson.dumps(annotations)
    except TypeError:  # an integer past 64 bits (a COCO id kept in annotation_info)
        return json.dumps(annotations, separators=(",", ":")).encode()


def _size(raw: dict[str, Any], data: bytes, name: str) -> tuple[int, int]:
    """The image's (width, height): as declared, checked against the file's own header."""
    try:
        real: tuple[int, int] | None = Image.open(io.BytesIO(data)).size
    except Exception:  # not an image Pillow reads: the ingest stage says why
        real = None
    declared = (raw.get("width"), raw.get("height"))
    if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in declared):
        if real is not None and real != declared:
            raise InputError(
                StatusCode.INPUT_INVALID_ARGUMENT,
                f"{name} is {real[0]}x{real[1]} pixels but the COCO file says "
                f"{declared[0]}x{declared[1]}; its annotations would be misplaced",
            )
        return declared  # type: ignore[return-value]
    if real is None:
        raise InputError(
            StatusCode.INPUT_UNSUPPORTED_FORMAT,
            f"{name}: no width/height in the COCO file and the file is no readable image",
        )
    return real
