"""Annotations follow their media into the chunks.

Frames go to the chunk whose time span holds them, with chunk-local time and index;
regions are clipped to each tile that they touch and re-expressed in its coordinates.
Annotations that are about the whole medium (concepts, no frame or region) go to every
chunk. A downscaled image keeps its annotations as they are: coordinates are fractions.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from collections.abc import Sequence

from PIL import Image

from pipeline.media.chunking import Piece
from pipeline.models import (
    Annotation,
    BoundingBox,
    Frame,
    FrameInfo,
    Mask,
    Media,
    Point,
    Polygon,
    Region,
    RegionInfo,
)

Moved = list[list[tuple[str, Annotation]]]  # per piece: (source key, annotation)

_Box = tuple[float, float, float, float]  # left, top, right, bottom in parent pixels


def move_annotations(
    annotations: Sequence[Annotation], pieces: Sequence[Piece], size: tuple[int, int] | None
) -> tuple[Moved, int]:
    """Each annotation placed on the chunks it belongs to; also how many regions were dropped.

    `size` is the parent image's display size when the pieces are tiles, else None.
    """
    moved: Moved = [[] for _ in pieces]
    dropped = 0
    tiled = size is not None and len(pieces) > 1
    starts = [p.start_ms or 0 for p in pieces]
    for n, ann in enumerate(annotations):
        key = ann.id or f"#{n}"
        if ann.data.frames and pieces and pieces[0].start_ms is not None:
            for index, frames in _frames_by_chunk(ann.data.frames, pieces, starts).items():
                data = ann.data.model_copy(update={"frames": frames})
                moved[index].append((key, ann.model_copy(update={"data": data})))
        elif tiled and ann.data.regions:
            assert size is not None
            for index, piece in enumerate(pieces):
                assert piece.box is not None
                regions, lost = _clip_regions(ann.data.regions, piece.box, size)
                dropped += lost if index == 0 else 0
                if regions:
                    data = ann.data.model_copy(update={"regions": regions})
                    moved[index].append((key, ann.model_copy(update={"data": data})))
        else:
            for chunk in moved:
                chunk.append((key, ann))
    return moved, dropped


def _frames_by_chunk(
    frames: list[Frame], pieces: Sequence[Piece], starts: list[int]
) -> dict[int, list[Frame]]:
    out: dict[int, list[Frame]] = {}
    for frame in frames:
        index = max(0, bisect_right(starts, frame.frame_info.time) - 1)
        piece = pieces[index]
        first = piece.first_frame or 0
        info = FrameInfo(
            index=max(0, frame.frame_info.index - first),
            time=max(0, frame.frame_info.time - starts[index]),
        )
        out.setdefault(index, []).append(frame.model_copy(update={"frame_info": info}))
    return out


def _clip_regions(
    regions: list[Region], box: tuple[int, int, int, int], size: tuple[int, int]
) -> tuple[list[Region], int]:
    kept: list[Region] = []
    dropped = 0
    for region in regions:
        info = region.region_info
        if info.mask is not None and not _readable(info.mask):
            dropped += 1  # a mask by reference (or unreadable) cannot be cut into tiles
            continue
        clipped = _clip_info(info, box, size)
        if clipped is not None:
            kept.append(region.model_copy(update={"region_info": clipped}))
    return kept, dropped


def _clip_info(
    info: RegionInfo, box: tuple[int, int, int, int], size: tuple[int, int]
) -> RegionInfo | None:
    """The region as seen in the tile, or None when it does not touch it."""
    width, height = size
    left, top, right, bottom = box
    tw, th = right - left, bottom - top

    def local(x: float, y: float) -> Point:
        return Point(row=_unit((y - top) / th), col=_unit((x - left) / tw))

    out: dict[str, object] = {}
    if info.bounding_box is not None:
        b = info.bounding_box
        l_, t_ = max(b.left_col * width, left), max(b.top_row * height, top)
        r_, b_ = min(b.right_col * width, right), min(b.bottom_row * height, bottom)
        if l_ >= r_ or t_ >= b_:
            return None
        p0, p1 = local(l_, t_), local(r_, b_)
        out["bounding_box"] = BoundingBox(
            top_row=p0.row, left_col=p0.col, bottom_row=p1.row, right_col=p1.col
        )
    if info.polygon is not None:
        points = [(p.col * width, p.row * height) for p in info.polygon.points]
        clipped = clip_polygon(points, (left, top, right, bottom))
        if len(clipped) < 3:
            return None
        out["polygon"] = Polygon(points=[local(x, y) for x, y in clipped])
    if info.point is not None:
        x, y = info.point.col * width, info.point.row * height
        if not (left <= x <= right and top <= y <= bottom):
            return None
        out["point"] = local(x, y).model_copy(update={"z": info.point.z})
    if info.mask is not None:
        out["mask"] = _crop_mask(info.mask, box, size)
    return RegionInfo(**out)


def clip_polygon(points: list[tuple[float, float]], box: _Box) -> list[tuple[float, float]]:
    """Sutherland-Hodgman: the part of a polygon inside an axis-aligned box."""
    left, top, right, bottom = box
    edges = (
        (lambda p: p[0] >= left, lambda a, b: _at_x(a, b, left)),
        (lambda p: p[0] <= right, lambda a, b: _at_x(a, b, right)),
        (lambda p: p[1] >= top, lambda a, b: _at_y(a, b, top)),
        (lambda p: p[1] <= bottom, lambda a, b: _at_y(a, b, bottom)),
    )
    out = points
    for inside, cross in edges:
        if not out:
            break
        src, out = out, []
        for i, cur in enumerate(src):
            prev = src[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cross(prev, cur))
    return out


def _at_x(a: tuple[float, float], b: tuple[float, float], x: float) -> tuple[float, float]:
    t = (x - a[0]) / (b[0] - a[0])
    return x, a[1] + t * (b[1] - a[1])


def _at_y(a: tuple[float, float], b: tuple[float, float], y: float) -> tuple[float, float]:
    t = (y - a[1]) / (b[1] - a[1])
    return a[0] + t * (b[0] - a[0]), y


def _crop_mask(mask: Mask, box: tuple[int, int, int, int], size: tuple[int, int]) -> Mask:
    raw = mask.image.base64
    assert isinstance(raw, bytes)
    with Image.open(io.BytesIO(raw)) as img:
        mw, mh = img.size
        left, top, right, bottom = box
        part = img.crop(
            (
                round(left * mw / size[0]),
                round(top * mh / size[1]),
                max(round(left * mw / size[0]) + 1, round(right * mw / size[0])),
                max(round(top * mh / size[1]) + 1, round(bottom * mh / size[1])),
            )
        )
        buf = io.BytesIO()
        part.save(buf, "PNG")
    return Mask(image=Media(base64=buf.getvalue()))


def _readable(mask: Mask) -> bool:
    raw = mask.image.base64
    if not isinstance(raw, bytes):
        return False
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.verify()
    except Exception:  # any undecodable mask is dropped, never fatal to the split
        return False
    return True


def _unit(value: float) -> float:
    return min(1.0, max(0.0, round(value, 9)))
