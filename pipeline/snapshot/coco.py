"""COCO (detection and segmentation) from a version's manifest, for pycocotools and friends.

Image inputs become COCO images; each region with a positive concept becomes one COCO
annotation per such concept: bounding boxes as `bbox` and a 4-point polygon, polygons as
polygon segmentation, masks as uncompressed RLE. Coordinates go from the reference's
fractions to pixels. Points, frames and regions without a positive concept have no COCO
form: they are counted.
"""

from __future__ import annotations

import binascii
import io
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from PIL import Image, UnidentifiedImageError

from pipeline.snapshot.manifest import read_manifest

_RUN = re.compile(rb"\x00+|[^\x00]+")


class CocoWriter:
    """Streams the COCO JSON document: images and annotations go to temp files first."""

    def __init__(self, workdir: Path, read_blob: Callable[[str], bytes]) -> None:
        self.images_path = workdir / "coco-images.part"
        self.anns_path = workdir / "coco-annotations.part"
        self.read_blob = read_blob
        self.categories: dict[str, tuple[int, str]] = {}
        self.skipped: Counter[str] = Counter()
        self.images = 0
        self.annotations = 0

    def build(self, manifest: Path, file_name: Callable[[dict[str, Any]], str]) -> None:
        with self.images_path.open("w") as images, self.anns_path.open("w") as anns:
            for line in read_manifest(manifest):
                data = line["data"]
                if line.get("type") != "image" or not data.get("width"):
                    self.skipped["inputs that are not images"] += 1
                    continue
                self.images += 1
                image = {
                    "id": self.images,
                    "file_name": file_name(line),
                    "width": data["width"],
                    "height": data["height"],
                    "ingestd_input_id": line["id"],
                }
                _append(images, image, self.images == 1)
                for ann in line["annotations"]:
                    if ann["data"].get("frames"):
                        self.skipped["video frames"] += len(ann["data"]["frames"])
                    for region in ann["data"].get("regions") or ():
                        self._region(anns, region, image, ann)

    def _region(
        self, out: IO[str], region: dict[str, Any], image: dict[str, Any], ann: dict[str, Any]
    ) -> None:
        concepts = [
            c for c in (region.get("data") or {}).get("concepts") or () if c.get("value", 1.0) > 0
        ]
        info = region.get("region_info") or {}
        if not concepts:
            self.skipped["regions without a positive concept"] += 1
            return
        shape = self._shape(info, image["width"], image["height"])
        if shape is None:
            return
        # What an import from COCO kept (`import coco`): a non-crowd polygon mask is stored as
        # a mask, yet stays iscrowd 0.
        crowd = ((ann.get("annotation_info") or {}).get("coco") or {}).get("iscrowd")
        if crowd in (0, 1):
            shape["iscrowd"] = crowd
        for concept in concepts:
            self.annotations += 1
            entry = {
                "id": self.annotations,
                "image_id": image["id"],
                "category_id": self._category(concept),
                "ingestd_annotation_id": ann["id"],
                **shape,
            }
            _append(out, entry, self.annotations == 1)

    def _shape(self, info: dict[str, Any], w: int, h: int) -> dict[str, Any] | None:
        if info.get("mask"):
            mask = self._mask(info["mask"], w, h)
            if mask is not None:
                return mask
        if info.get("polygon"):
            pts = [(p["col"] * w, p["row"] * h) for p in info["polygon"]["points"]]
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            x, y = min(xs), min(ys)
            return {
                "segmentation": [[round(v, 2) for p in pts for v in p]],
                "bbox": _round([x, y, max(xs) - x, max(ys) - y]),
                "area": round(_shoelace(pts), 2),
                "iscrowd": 0,
            }
        if info.get("bounding_box"):
            b = info["bounding_box"]
            x, y = b["left_col"] * w, b["top_row"] * h
            bw, bh = (b["right_col"] - b["left_col"]) * w, (b["bottom_row"] - b["top_row"]) * h
            # The box as a 4-point polygon: an empty segmentation breaks pycocotools'
            # annToMask / annToRLE (IndexError), which tools call on every annotation.
            corners = [x, y, x + bw, y, x + bw, y + bh, x, y + bh]
            return {
                "segmentation": [_round(corners)],
                "bbox": _round([x, y, bw, bh]),
                "area": round(bw * bh, 2),
                "iscrowd": 0,
            }
        self.skipped["points and other shapes without a COCO form"] += 1
        return None

    def _mask(self, mask: dict[str, Any], w: int, h: int) -> dict[str, Any] | None:
        source = mask.get("image") or {}
        try:
            if source.get("base64"):
                raw = binascii.a2b_base64(source["base64"])
            elif source.get("blob_key"):
                raw = self.read_blob(source["blob_key"])
            else:
                self.skipped["masks given by URL (not fetched)"] += 1
                return None
            img = Image.open(io.BytesIO(raw)).convert("L")
        except (binascii.Error, ValueError, OSError, UnidentifiedImageError):
            self.skipped["masks that are not readable images"] += 1
            return None
        if img.size != (w, h):
            img = img.resize((w, h), Image.Resampling.NEAREST)
        box = img.getbbox()
        if box is None:
            self.skipped["empty masks"] += 1
            return None
        # COCO RLE runs go down the columns, starting with a run of zeros.
        column_major = img.transpose(Image.Transpose.TRANSPOSE).tobytes()
        counts = [m.end() - m.start() for m in _RUN.finditer(column_major)]
        if column_major[:1] != b"\x00":
            counts.insert(0, 0)
        area = sum(counts[1::2])
        x0, y0, x1, y1 = box
        return {
            "segmentation": {"size": [h, w], "counts": counts},
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": area,
            "iscrowd": 1,
        }

    def _category(self, concept: dict[str, Any]) -> int:
        cid = concept["id"]
        if cid not in self.categories:
            self.categories[cid] = (len(self.categories) + 1, concept.get("name") or cid)
        return self.categories[cid][0]

    def write_document(self, out: IO[bytes], info: dict[str, Any]) -> None:
        """The whole COCO JSON into `out`, copying the parts written by `build`."""
        out.write(b'{"info":' + json.dumps(info, sort_keys=True).encode() + b',"licenses":[],')
        out.write(b'"images":[')
        _copy(self.images_path, out)
        out.write(b'],"annotations":[')
        _copy(self.anns_path, out)
        cats = [
            {"id": n, "name": name, "supercategory": "", "ingestd_concept_id": cid}
            for cid, (n, name) in self.categories.items()
        ]
        out.write(b'],"categories":' + json.dumps(cats, sort_keys=True).encode() + b"}")


def _append(out: IO[str], entry: dict[str, Any], first: bool) -> None:
    if not first:
        out.write(",")
    out.write(json.dumps(entry, sort_keys=True, separators=(",", ":")))


def _copy(path: Path, out: IO[bytes]) -> None:
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            out.write(chunk)


def _round(values: list[float]) -> list[float]:
    return [round(v, 2) for v in values]


def _shoelace(pts: list[tuple[float, float]]) -> float:
    total = 0.0
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2
