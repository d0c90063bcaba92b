"""One COCO annotation as a platform annotation: pixels become fractions of the image.

`bbox` [x, y, w, h] becomes the region's bounding box; a segmentation of one polygon becomes
the region's polygon; several polygons (a "polygon mask") and RLE masks, compressed or not,
become a PNG mask covering the image. The category becomes the region's concept; the COCO
ids and `iscrowd` are kept in `annotation_info["coco"]`.

An annotation is made as the platform's JSON, not as a model: the lister holds it as JSON
text until its request is built (connectors/importers/items.py), and the ingest stage checks
its rules (pipeline/annotations.py) as it checks every annotation's.
"""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING, Any

from PIL import Image

from pipeline.errors import InputError
from pipeline.status import StatusCode

if TYPE_CHECKING:
    import numpy as np

BAD = StatusCode.ANNOTATION_INVALID_ARGUMENT


def to_annotation(
    raw: dict[str, Any],
    concept: dict[str, Any],
    category_id: Any,
    size: tuple[int, int],
    ann_id: str | None,
    max_pixels: int,
) -> dict[str, Any]:
    """The annotation as the platform's JSON (a mask's PNG as base64 text); InputError 24155
    when it is unusable."""
    width, height = size
    info: dict[str, Any] = {}
    box = _box(raw.get("bbox"), width, height)
    if box is not None:
        info["bounding_box"] = box
    seg = raw.get("segmentation")
    if isinstance(seg, list) and len(seg) == 1:
        info["polygon"] = {"points": _points(seg[0], width, height)}
    elif isinstance(seg, list) and len(seg) > 1:
        info["mask"] = _mask(_polygons_mask(seg, width, height, max_pixels))
    elif isinstance(seg, dict):
        info["mask"] = _mask(_rle_mask(seg, width, height, max_pixels))
    elif seg not in (None, []):
        raise InputError(
            BAD, f"segmentation must be a list of polygons or an RLE object, got {seg!r:.60}"
        )
    if not info:
        raise InputError(BAD, "has neither a bbox nor a segmentation: nothing to import")
    crowd = raw.get("iscrowd", 0)
    if crowd not in (0, 1):
        raise InputError(BAD, f"iscrowd must be 0 or 1, got {crowd!r:.20}")
    coco = {"annotation_id": raw.get("id"), "image_id": raw.get("image_id")}
    coco.update(category_id=category_id, iscrowd=int(crowd))
    region = {"region_info": info, "data": {"concepts": [concept]}}
    return {"id": ann_id, "data": {"regions": [region]}, "annotation_info": {"coco": coco}}


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(BAD, f"coordinate {value!r:.30} is not a finite number")
    return float(value)


def _unit(value: float) -> float:
    # COCO files carry boxes a rounding error past the edge (x + w = 640.01 on 640 pixels).
    return min(1.0, max(0.0, value))


def _box(bbox: Any, width: int, height: int) -> dict[str, float] | None:
    if bbox is None or bbox == []:
        return None
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise InputError(BAD, f"bbox must be [x, y, width, height], got {bbox!r:.60}")
    x, y, w, h = (_number(v) for v in bbox)
    if w < 0 or h < 0:
        raise InputError(BAD, f"bbox {bbox} has a negative width or height")
    box = {
        "top_row": _unit(y / height),
        "left_col": _unit(x / width),
        "bottom_row": _unit((y + h) / height),
        "right_col": _unit((x + w) / width),
    }
    # Here, not at the ingest stage: there a box without area fails its whole image.
    if box["bottom_row"] <= box["top_row"] or box["right_col"] <= box["left_col"]:
        raise InputError(BAD, f"bbox {bbox} has no area inside the {width}x{height} image")
    return box


def _coords(poly: Any) -> list[float]:
    if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
        shown = f"{len(poly)} numbers" if isinstance(poly, list) else repr(poly)[:40]
        raise InputError(
            BAD, f"a segmentation polygon needs an even count of at least 6 numbers, got {shown}"
        )
    return [_number(v) for v in poly]


def _points(poly: Any, width: int, height: int) -> list[dict[str, float]]:
    xy = _coords(poly)
    return [
        {"row": _unit(y / height), "col": _unit(x / width)}
        for x, y in zip(xy[0::2], xy[1::2], strict=True)
    ]


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InputError(
            BAD, f"a mask of {width}x{height} pixels is over the {max_pixels} pixel limit"
        )


def _polygons_mask(polys: list[Any], width: int, height: int, max_pixels: int) -> np.ndarray:
    from pycocotools import mask as mask_utils  # numpy too: ~10 MB a file of boxes never needs

    _check_pixels(width, height, max_pixels)
    clipped = []
    for poly in polys:
        xy = _coords(poly)
        # Clamped into the image: pycocotools scales coordinates into C ints.
        xs = [min(float(width), max(0.0, v)) for v in xy[0::2]]
        ys = [min(float(height), max(0.0, v)) for v in xy[1::2]]
        clipped.append([v for pair in zip(xs, ys, strict=True) for v in pair])
    rles = mask_utils.frPyObjects(clipped, height, width)
    return mask_utils.decode(mask_utils.merge(rles))


def _rle_mask(seg: dict[str, Any], width: int, height: int, max_pixels: int) -> np.ndarray:
    from pycocotools import mask as mask_utils

    size, counts = seg.get("size"), seg.get("counts")
    if size != [height, width]:
        raise InputError(
            BAD, f"RLE size {size!r:.40} is not the image's [height, width] [{height}, {width}]"
        )
    _check_pixels(width, height, max_pixels)
    if isinstance(counts, str):
        runs = rle_string_counts(counts)
    elif isinstance(counts, list) and all(
        isinstance(c, int) and not isinstance(c, bool) for c in counts
    ):
        runs = counts
    else:
        raise InputError(BAD, "RLE counts must be a list of integers or a compressed string")
    # pycocotools' decoder writes runs without bounds checks: the runs must cover the image
    # exactly before it sees them.
    if any(c < 0 for c in runs) or sum(runs) != width * height:
        raise InputError(
            BAD, f"RLE runs cover {sum(runs)} pixels, not the image's {width}x{height}"
        )
    if isinstance(counts, str):
        rle = {"size": [height, width], "counts": counts.encode("ascii")}
    else:
        rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return mask_utils.decode(rle)


def rle_string_counts(text: str) -> list[int]:
    """The runs of a compressed RLE string (pycocotools' rleFrString, with its input checked)."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x = k = 0
        more = True
        while more:
            if p >= len(text) or not 48 <= ord(text[p]) < 48 + 64:
                raise InputError(BAD, "the compressed RLE string is malformed")
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _mask(mask: np.ndarray) -> dict[str, Any]:
    out = io.BytesIO()
    Image.fromarray(mask.astype(bool)).save(out, "PNG", optimize=False)
    return {"image": {"base64": base64.b64encode(out.getvalue()).decode("ascii")}}
