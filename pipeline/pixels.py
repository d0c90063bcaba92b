"""Decode images in bounded memory: libvips streams rows, Pillow only where the frame is small.

PNG, TIFF and JPEG are read sequentially by libvips (a few rows at a time, whatever the
image size); JPEG and WEBP are decoded at a reduced scale where that is enough. libvips
decodes a GIF or WEBP frame whole and has no BMP loader, so those are decoded whole (by
Pillow, or libvips at a reduced scale) only when the frame fits `DECODE_BUDGET`; a larger
one is refused with 30105 rather than decoded.

Only the first frame or page of an animation or multipage file is read. libvips composes an
animated WEBP's first frame on its whole canvas (at any scale) and its time grows faster than
the frame count, and it walks every TIFF page's directory: both are capped (`MAX_FRAMES`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import math
import struct
from pathlib import Path

import pyvips

from pipeline.errors import InputError
from pipeline.status import StatusCode

# libvips keeps recent operations (and their pixels) in a cache: a worker never reuses them.
pyvips.cache_set_max(0)
pyvips.cache_set_max_mem(0)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def give_back(pixels: int) -> None:
    """After a large image, return the heap it freed to the system (glibc keeps it otherwise).

    glibc raises its trim and mmap thresholds after each large free, so one image's buffers
    stay resident while the next is decoded: a run of 1,000 images peaked at 340 MB that way,
    near 200 MB with the heap trimmed after each large one (docs/benchmarks.md). Small images
    leave little behind and trimming costs page faults, so they are skipped.
    """
    if _LIBC is not None and pixels >= _TRIM_PIXELS:
        _LIBC.malloc_trim(0)

DECODE_BUDGET = 120 * 2**20
"""Bytes a whole decoded frame may take; the rest of the process stays well under 300 MB."""
STREAMED = frozenset({"PNG", "TIFF", "JPEG"})
VIPS_CHECKED = frozenset({"PNG", "TIFF", "WEBP"})  # JPEG is checked by Pillow at 1/8 scale
_WEBP_COST = 8  # bytes per pixel libwebp holds while decoding (RGBA frame and its copy)
_CHECK_PIXELS = 4_000_000  # scaled decodes used only to verify the data stop at this size
_TRIM_PIXELS = 8_000_000
MAX_FRAMES = 10_000
"""Frames (animated WEBP) or pages (TIFF) a file may have: only the first is kept."""

Source = bytes | Path


def refuse_unbounded(
    fmt: str,
    pixels: int,
    per_pixel: int,
    doing: str,
    remedy: str = "convert it to PNG, TIFF or JPEG",
) -> None:
    """30105 when decoding `pixels` whole at `per_pixel` bytes would pass the budget."""
    if pixels * per_pixel <= DECODE_BUDGET:
        return
    most = DECODE_BUDGET // per_pixel
    raise InputError(
        StatusCode.INPUT_OVER_LIMIT,
        f"{fmt} image of {pixels / 1e6:.1f} megapixels cannot be {doing} in bounded memory "
        f"({fmt} images are decoded whole; the most is {most / 1e6:.0f} megapixels): {remedy}",
    )


def refuse_frames(fmt: str, frames: int, unit: str) -> None:
    """30105 when a file has more frames or pages than `MAX_FRAMES`."""
    if frames <= MAX_FRAMES:
        return
    raise InputError(
        StatusCode.INPUT_OVER_LIMIT,
        f"{fmt} has more than {MAX_FRAMES} {unit}s; only the first {unit} of an image is "
        f"kept and at most {MAX_FRAMES} are read: split it or send the first {unit} alone",
    )


def tiff_pages(source: Source, most: int = MAX_FRAMES + 1) -> int:
    """How many pages (directories) a classic TIFF chains, counting at most `most`."""
    fh = io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")
    with fh:

        def read(at: int, n: int) -> bytes:
            fh.seek(at)
            return fh.read(n)

        order = "<" if read(0, 2) == b"II" else ">"
        seen: set[int] = set()
        raw = read(4, 4)
        at = struct.unpack(order + "I", raw)[0] if len(raw) == 4 else 0
        while at and at not in seen and len(seen) < most:
            seen.add(at)  # a directory chained twice is a loop: libtiff stops there too
            raw = read(at, 2)
            if len(raw) < 2:
                break
            raw = read(at + 2 + 12 * struct.unpack(order + "H", raw)[0], 4)
            at = struct.unpack(order + "I", raw)[0] if len(raw) == 4 else 0
    return len(seen)


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


def refuse_webp(pixels: int, scale: float, frames: int, doing: str) -> None:
    """30105 when libwebp's frame at `scale` (an animation: its whole canvas) is over budget."""
    if frames > 1:
        remedy = "only its first frame is kept: save that frame as PNG, TIFF or JPEG"
        refuse_unbounded("animated WEBP", pixels, _WEBP_COST, doing, remedy)
    else:
        refuse_unbounded("WEBP", int(pixels * scale * scale), _WEBP_COST, doing)


def verify(source: Source, fmt: str, width: int, height: int, frames: int = 1) -> None:
    """Decode every byte of image data (streamed or reduced), so corrupt data fails here."""
    scale = 1.0
    if fmt == "WEBP":
        scale = webp_scale(width * height, _CHECK_PIXELS)
        refuse_webp(width * height, scale, frames, "checked")
    img = load(source, fmt, scale)
    try:
        img.avg()  # pulls every row through the decoder, a strip at a time
    except pyvips.Error as exc:
        raise decode_failed(exc) from None
    finally:
        del img
        give_back(width * height)


def decode_failed(exc: Exception) -> InputError:
    detail = str(exc).strip().splitlines()
    return InputError(
        StatusCode.INPUT_FAILED,
        "image could not be decoded (truncated, corrupt, or its header lies about its size): "
        + " ".join(line.strip() for line in detail[-2:]),
    )
