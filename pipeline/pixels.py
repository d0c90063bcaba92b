"""Decode images in bounded memory: libvips streams rows, Pillow only where the frame is small.

PNG, TIFF and JPEG are read sequentially by libvips (a few rows at a time, whatever the
image size); JPEG and WEBP are decoded at a reduced scale where that is enough. libvips
decodes a GIF or WEBP frame whole and has no BMP loader, so those are decoded whole (by
Pillow, or libvips at a reduced scale) only when the frame fits `DECODE_BUDGET`; a larger
one is refused with 30105 rather than decoded.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyvips

from pipeline.errors import InputError
from pipeline.status import StatusCode

# libvips keeps recent operations (and their pixels) in a cache: a worker never reuses them.
pyvips.cache_set_max(0)
pyvips.cache_set_max_mem(0)

DECODE_BUDGET = 120 * 2**20
"""Bytes a whole decoded frame may take; the rest of the process stays well under 300 MB."""
STREAMED = frozenset({"PNG", "TIFF", "JPEG"})
VIPS_CHECKED = frozenset({"PNG", "TIFF", "WEBP"})  # JPEG is checked by Pillow at 1/8 scale
_WEBP_COST = 8  # bytes per pixel libwebp holds while decoding (RGBA frame and its copy)
_CHECK_PIXELS = 4_000_000  # scaled decodes used only to verify the data stop at this size

Source = bytes | Path


def refuse_unbounded(fmt: str, pixels: int, per_pixel: int, doing: str) -> None:
    """30105 when decoding `pixels` whole at `per_pixel` bytes would pass the budget."""
    if pixels * per_pixel <= DECODE_BUDGET:
        return
    most = DECODE_BUDGET // per_pixel
    raise InputError(
        StatusCode.INPUT_OVER_LIMIT,
        f"{fmt} image of {pixels / 1e6:.1f} megapixels cannot be {doing} in bounded memory "
        f"({fmt} frames are decoded whole; the most is {most / 1e6:.0f} megapixels): "
        "convert it to PNG, TIFF or JPEG",
    )


def load(source: Source, fmt: str, scale: float = 1.0) -> pyvips.Image:
    """The image's first page or frame as a sequential libvips image; truncation fails.

    `scale` (at most 1) lets JPEG and WEBP decode at a reduced size: JPEG by 1/2..1/8 at
    most `scale`, WEBP at `scale` exactly.
    """
    opts: dict[str, object] = {"access": "sequential", "fail_on": "truncated"}
    if fmt == "JPEG":
        opts["shrink"] = max(s for s in (1, 2, 4, 8) if s == 1 or 1 / s >= scale)
    elif fmt == "WEBP" and scale < 1:
        opts["scale"] = scale
    elif fmt not in STREAMED and fmt != "WEBP":
        raise ValueError(f"libvips does not load {fmt} here")
    try:
        if isinstance(source, bytes):
            return pyvips.Image.new_from_buffer(source, "", **opts)
        return pyvips.Image.new_from_file(str(source), **opts)
    except pyvips.Error as exc:
        raise decode_failed(exc) from None


def webp_scale(pixels: int, most: int) -> float:
    """The WEBP decode scale that keeps the frame under the budget and at most `most` pixels."""
    cap = min(most, DECODE_BUDGET // _WEBP_COST)
    return min(1.0, math.sqrt(cap / pixels))


def verify(source: Source, fmt: str, width: int, height: int) -> None:
    """Decode every byte of image data (streamed or reduced), so corrupt data fails here."""
    scale = 1.0
    if fmt == "WEBP":
        scale = webp_scale(width * height, _CHECK_PIXELS)
    img = load(source, fmt, scale)
    try:
        img.avg()  # pulls every row through the decoder, a strip at a time
    except pyvips.Error as exc:
        raise decode_failed(exc) from None


def decode_failed(exc: Exception) -> InputError:
    detail = str(exc).strip().splitlines()
    return InputError(
        StatusCode.INPUT_FAILED,
        "image could not be decoded (truncated, corrupt, or its header lies about its size): "
        + " ".join(line.strip() for line in detail[-2:]),
    )
