"""Images over the limit: downscaled to fit (aspect kept) or tiled, EXIF orientation applied.

Boxes and sizes are in display pixels (after the EXIF orientation), which is the frame
region annotations use. Pixels go through libvips in bounded memory (pipeline.pixels):
a downscale streams rows from the decoder through the resampler into the encoder (JPEG
decoded at a reduced scale); tiles are cut from a tiled TIFF that the source is streamed
into once, so only the tiles being written are decoded. GIF, BMP and WEBP frames are
decoded whole, and only when they fit the decode budget (30105 otherwise).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pyvips
from PIL import Image

from pipeline.errors import InputError
from pipeline.limits import Limits
from pipeline.media.chunking import Piece, Split
from pipeline.pixels import (
    STREAMED,
    decode_failed,
    give_back,
    load,
    refuse_unbounded,
    refuse_webp,
    webp_scale,
)
from pipeline.sniff import ImageHeader, frame_bytes, image_header
from pipeline.status import StatusCode

_WHOLE_FRAME_COST = 8  # GIF/BMP: Pillow's RGB(A) copy and libvips' bytes of it


def stored_box(
    box: tuple[int, int, int, int], orientation: int, width: int, height: int
) -> tuple[int, int, int, int]:
    """The stored-image rectangle that shows as `box` once the orientation is applied.

    `width`/`height` are the stored size; coordinates are pixel edges (0..size).
    """
    x0, y0, x1, y1 = box
    corners = [_to_stored(x, y, orientation, width, height) for x, y in ((x0, y0), (x1, y1))]
    (a, b), (c, d) = corners
    return min(a, c), min(b, d), max(a, c), max(b, d)


def _to_stored(x: int, y: int, orientation: int, w: int, h: int) -> tuple[int, int]:
    return {
        1: (x, y),
        2: (w - x, y),
        3: (w - x, h - y),
        4: (x, h - y),
        5: (y, x),
        6: (y, h - x),
        7: (w - y, h - x),
        8: (w - y, x),
    }[orientation]


def _whole_frame(src: Path, header: ImageHeader, doing: str) -> pyvips.Image:
    """A GIF or BMP frame decoded by Pillow (libvips reads neither in small memory)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(src) as img:
            per_pixel = frame_bytes(img.mode) + _WHOLE_FRAME_COST
            refuse_unbounded(header.format, header.pixels, per_pixel, doing)
            alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            rgb = img.convert("RGBA" if alpha else "RGB")
    bands = 4 if alpha else 3
    data = rgb.tobytes()
    del rgb
    return pyvips.Image.new_from_memory(data, header.width, header.height, bands, "uchar")


def _source(src: Path, header: ImageHeader, scale: float, doing: str) -> pyvips.Image:
    """The stored image (not turned), decoded at `scale` or more where the format allows."""
    fmt = header.format
    if fmt in STREAMED:
        return load(src, fmt, scale)
    if fmt == "WEBP":
        refuse_webp(header.pixels, scale, header.frames, doing)
        return load(src, fmt, scale)
    return _whole_frame(src, header, doing)


def _turned(img: pyvips.Image, orientation: int) -> pyvips.Image:
    """The image as displayed: the EXIF orientation applied (as Pillow's exif_transpose)."""
    if orientation == 1:
        return img
    img = img.copy()
    img.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return img.autorot()


def _save(img: pyvips.Image, path: Path, jpeg: bool, limits: Limits) -> int:
    if jpeg:
        img.jpegsave(str(path), Q=limits.image_jpeg_quality, keep="none")
    else:
        img.pngsave(str(path), compression=6, keep="none")
    return path.stat().st_size


def downscale_image(src: Path, out_dir: Path, limits: Limits) -> Split:
    """One image within the pixel and byte limits, same aspect ratio, orientation applied."""
    header = image_header(src, limits)
    jpeg = header.format == "JPEG"
    width, height = header.display_size
    scale = min(1.0, math.sqrt(limits.image_pixels / (width * height)))
    source_bytes = src.stat().st_size
    if source_bytes >= limits.image_bytes:
        # Over the byte limit: start where the source's bytes per pixel say it will fit, not
        # at full size (each try decodes and encodes the whole image again).
        scale = min(scale, math.sqrt(0.85 * limits.image_bytes / source_bytes))
    if header.format == "WEBP":  # libwebp decodes the (scaled) frame whole
        scale = min(scale, webp_scale(header.pixels, limits.image_pixels))
    path = out_dir / f"00000.{'jpg' if jpeg else 'png'}"
    try:
        for _ in range(8):
            size = _fit_size(width, height, scale, limits.image_pixels)
            turned = size[::-1] if header.orientation in (5, 6, 7, 8) else size
            small = _source(src, header, scale, "downscaled")
            if (small.width, small.height) != turned:
                small = small.resize(
                    turned[0] / small.width, vscale=turned[1] / small.height, kernel="lanczos3"
                )
                small = small.crop(0, 0, min(small.width, turned[0]), min(small.height, turned[1]))
            if header.orientation != 1:
                # Turning needs random access: go through a tiled file, never a whole copy.
                spool = out_dir.parent / "turn.tif"
                small.tiffsave(str(spool), tile=True, bigtiff=True, keep="none")
                small = pyvips.Image.new_from_file(str(spool), access="random")
            small = _turned(small, header.orientation)
            written = _save(small, path, jpeg, limits)
            if written < limits.image_bytes:
                piece = Piece(path, "JPEG" if jpeg else "PNG", path.suffix[1:], 0)
                piece.width, piece.height = small.width, small.height
                piece.box = (0, 0, width, height)
                return Split([piece], "downscale", {"scale": round(size[0] / width, 6)})
            # Bytes grow with pixels: aim under the byte limit in one more step.
            scale *= min(0.9, math.sqrt(0.85 * limits.image_bytes / written))
    except pyvips.Error as exc:
        raise decode_failed(exc) from None
    finally:
        give_back(header.pixels)  # this image's buffers, before the next one is decoded
    raise InputError(StatusCode.INPUT_OVER_LIMIT, "image could not be brought under the byte limit")


def _fit_size(width: int, height: int, scale: float, max_pixels: int) -> tuple[int, int]:
    w, h = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    while w * h > max_pixels:  # rounding can leave it a row over
        w, h = max(1, w - 1), max(1, math.floor(h * (w - 1) / w))
    return w, h


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile offsets along one axis: full tiles, the last one flush with the edge."""
    if length <= tile:
        return [0]
    step = tile - overlap
    count = math.ceil((length - overlap) / step)
    return sorted({min(n * step, length - tile) for n in range(count)})


def tile_image(src: Path, out_dir: Path, limits: Limits) -> Split:
    """Tiles of at most tile_size pixels a side, overlapping by tile_overlap, row by row."""
    header = image_header(src, limits)
    jpeg = header.format == "JPEG"
    tile = limits.image_tile_size
    overlap = min(limits.image_tile_overlap, tile // 2)
    width, height = header.display_size
    pieces: list[Piece] = []
    try:
        img = _source(src, header, 1.0, "tiled")
        if header.format in STREAMED:
            # Stream the source once into a tiled file: each tile then decodes only itself.
            spool = out_dir.parent / "tiles.tif"
            img.tiffsave(str(spool), tile=True, bigtiff=True, keep="none")
            img = pyvips.Image.new_from_file(str(spool), access="random")
        for top in tile_starts(height, tile, overlap):
            for left in tile_starts(width, tile, overlap):
                box = (left, top, min(left + tile, width), min(top + tile, height))
                x0, y0, x1, y1 = stored_box(box, header.orientation, img.width, img.height)
                part = _turned(img.crop(x0, y0, x1 - x0, y1 - y0), header.orientation)
                index = len(pieces)
                path = out_dir / f"{index:05d}.{'jpg' if jpeg else 'png'}"
                written = _save(part, path, jpeg, limits)
                if written >= limits.image_bytes:
                    raise InputError(
                        StatusCode.INPUT_OVER_LIMIT,
                        f"a {tile}-pixel tile is {written / 2**20:.1f} MB; lower "
                        "INGESTD_LIMITS__IMAGE_TILE_SIZE",
                    )
                piece = Piece(path, "JPEG" if jpeg else "PNG", path.suffix[1:], index)
                piece.width, piece.height = part.width, part.height
                piece.box = box
                pieces.append(piece)
    except pyvips.Error as exc:
        raise decode_failed(exc) from None
    finally:
        give_back(header.pixels)  # this image's buffers, before the next one is decoded
    notes = {"tile_size": tile, "overlap": overlap, "width": width, "height": height}
    return Split(pieces, "tile", notes)
