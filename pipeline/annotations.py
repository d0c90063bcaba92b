"""The rules of an annotation's shapes (../shared/reference/annotations.md).

Every way an annotation arrives goes through `check_annotation`: with an input through the
ingest stage, on its own (`ingestd annotations add|patch`, the catalog's annotations facet)
and from a model (the collect stage's model node). The models in `pipeline/models.py` parse
geometry for its types only, so a bad box fails its own input or annotation with
24155 ANNOTATION_INVALID_ARGUMENT, never the parse of a whole request.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from typing import Any

from PIL import Image
from pydantic import ValidationError

from pipeline.errors import InputError
from pipeline.models import Annotation, BoundingBox, Concept, Frame, Mask, Point, Region
from pipeline.status import StatusCode

MASK_BYTES = 4 * 1024 * 1024
"""A mask is stored in the catalog row of its annotation: PNG bytes, at most this many."""
MASK_PIXELS = 4096 * 4096
"""A mask may be coarser than its input (it is scaled to it): at most 4096 x 4096 pixels."""
_PNG = b"\x89PNG\r\n\x1a\n"
INVALID = StatusCode.ANNOTATION_INVALID_ARGUMENT


def parse_annotation(value: Any, what: str = "annotation") -> Annotation:
    """An Annotation from JSON in the platform's shape, checked; InputError (24155) if not."""
    if not isinstance(value, dict):
        raise InputError(INVALID, f"{what} is {type(value).__name__}, not a JSON object")
    try:
        ann = Annotation.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(INVALID, f"{what}: {where}: {err['msg']}") from None
    check_annotation(ann, what)
    return ann


def check_annotation(ann: Annotation, what: str = "annotation") -> None:
    """Raise InputError (24155) naming the first rule `ann` breaks and how to fix it."""
    problem = annotation_problem(ann)
    if problem is not None:
        raise InputError(INVALID, f"{what}: {problem}")


def annotation_problem(ann: Annotation) -> str | None:
    """The first rule `ann` breaks, said so a person can fix it; None when it keeps them all."""
    data = ann.data
    return (
        _concepts_problem(data.concepts, "data.concepts")
        or _first(_region_problem(r, f"data.regions[{n}]") for n, r in enumerate(data.regions))
        or _first(_frame_problem(f, f"data.frames[{n}]") for n, f in enumerate(data.frames))
        or _info_problem(ann.annotation_info)
    )


def _info_problem(info: Any) -> str | None:
    try:  # what the catalog's JSON column must hold
        json.dumps(info, allow_nan=False)
    except (ValueError, RecursionError):
        return (
            "annotation_info holds a number JSON cannot carry (NaN or Infinity; 1e999 "
            "overflows to Infinity) or nests too deep: send numbers like that as strings"
        )
    return None


def region_problem(region: Region) -> str | None:
    """The first rule a region breaks (for model answers turned into regions)."""
    return _region_problem(region, "region")


def _first(problems: Any) -> str | None:
    return next((p for p in problems if p is not None), None)


def _concepts_problem(concepts: list[Concept], where: str) -> str | None:
    for n, concept in enumerate(concepts):
        # The model bounds values already; NaN slips past ge/le comparisons on some paths.
        if not (math.isfinite(concept.value) and 0.0 <= concept.value <= 1.0):
            return (
                f"{where}[{n}] ({concept.id!r}) has value {concept.value}; a concept's value "
                "is 0 to 1 (1 present, 0 absent, or a probability)"
            )
    return None


def _region_problem(region: Region, where: str) -> str | None:
    info = region.region_info
    return (
        (info.bounding_box and _box_problem(info.bounding_box, f"{where}.region_info.bounding_box"))
        or (info.polygon and _polygon_problem(info.polygon.points, f"{where}.region_info.polygon"))
        or (info.point and _point_problem(info.point, f"{where}.region_info.point"))
        or (info.mask and _mask_problem(info.mask, f"{where}.region_info.mask"))
        or _concepts_problem(region.data.concepts, f"{where}.data.concepts")
    )


def _fraction_problem(value: float, name: str, where: str) -> str | None:
    if math.isfinite(value) and 0.0 <= value <= 1.0:
        return None
    return (
        f"{where}.{name} is {value}; coordinates are fractions of the height and width, "
        "from 0.0 (top or left) to 1.0 (bottom or right)"
    )


def _box_problem(box: BoundingBox, where: str) -> str | None:
    for name in ("top_row", "left_col", "bottom_row", "right_col"):
        found = _fraction_problem(getattr(box, name), name, where)
        if found:
            return found
    if box.top_row >= box.bottom_row:
        return (
            f"{where}: top_row {box.top_row} must be above bottom_row {box.bottom_row} "
            "(top_row < bottom_row; a box has a height)"
        )
    if box.left_col >= box.right_col:
        return (
            f"{where}: left_col {box.left_col} must be left of right_col {box.right_col} "
            "(left_col < right_col; a box has a width)"
        )
    return None


def _polygon_problem(points: list[Point], where: str) -> str | None:
    if len(points) < 3:
        return f"{where} has {len(points)} point(s); a polygon needs at least 3"
    return _first(_point_problem(p, f"{where}.points[{n}]") for n, p in enumerate(points))


def _point_problem(point: Point, where: str) -> str | None:
    if point.z is not None and not math.isfinite(point.z):
        return f"{where}.z is {point.z}; give a finite depth or leave it out"
    return _fraction_problem(point.row, "row", where) or _fraction_problem(point.col, "col", where)


def _mask_problem(mask: Mask, where: str) -> str | None:
    media = mask.image
    if not isinstance(media.base64, bytes):
        return (
            f"{where}.image must be a base64 PNG image (got "
            f"{'invalid base64' if media.base64 else 'a url or blob_key'}); "
            "send the mask's bytes as base64"
        )
    data = media.base64
    if len(data) > MASK_BYTES:
        return f"{where} is {len(data)} bytes; a mask is at most {MASK_BYTES} bytes of PNG"
    if not data.startswith(_PNG):
        return f"{where}.image is not a PNG image; masks are PNG (one channel or RGBA)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
                width, height = img.size
                if width * height > MASK_PIXELS:
                    return (
                        f"{where} is {width}x{height} pixels; a mask is at most {MASK_PIXELS} "
                        "pixels (scale it down: it is stretched over its input)"
                    )
                img.load()  # decodes it all: a truncated or corrupt PNG fails here
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as exc:
        return f"{where}.image does not decode as a PNG image: {exc}"
    return None


def _frame_problem(frame: Frame, where: str) -> str | None:
    info = frame.frame_info
    if info.index < 0 or info.time < 0:
        return (
            f"{where}.frame_info has index {info.index} and time {info.time}; both count "
            "from the start of the video (index from 0, time in milliseconds from 0)"
        )
    return _concepts_problem(frame.data.concepts, f"{where}.data.concepts") or _first(
        _region_problem(r, f"{where}.data.regions[{n}]") for n, r in enumerate(frame.data.regions)
    )
