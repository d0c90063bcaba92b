"""Images over the limit: downscaled to fit (aspect kept) or tiled, EXIF orientation applied.

Boxes and sizes are in display pixels (after the EXIF orientation), which is the frame
region annotations use. Tiles are cropped from the stored image and then turned, so the
decoded image is never copied whole; JPEGs are decoded at a reduced scale when downscaled.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

from PIL import Image

from pipeline.errors import InputError
from pipeline.limits import Limits
from pipeline.media.chunking import Piece, Split
from pipeline.sniff import ImageHeader, image_header
from pipeline.status import StatusCode

_TURN = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_PNG_MODES = {"1", "L", "LA", "RGB", "RGBA", "I", "I;16"}


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


def _open(src: Path, limits: Limits) -> tuple[Image.Image, ImageHeader]:
    header = image_header(src, limits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(src), header


def _decode_failed(exc: Exception) -> InputError:
    return InputError(
        StatusCode.INPUT_FAILED,
        f"image could not be decoded (truncated, corrupt, or its header lies about its size): "
        f"{exc}",
    )


def _ready(img: Image.Image, for_jpeg: bool) -> Image.Image:
    """The image in a mode its output format can hold (and resize can work on)."""
    alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    if for_jpeg:
        return img if img.mode in ("RGB", "L", "CMYK") else img.convert("RGB")
    if img.mode == "P":
        return img.convert("RGBA" if alpha else "RGB")
    if img.mode not in _PNG_MODES:
        return img.convert("RGBA" if alpha else "RGB")
    return img


def _save(img: Image.Image, path: Path, jpeg: bool, limits: Limits) -> int:
    if jpeg:
        img.save(path, "JPEG", quality=limits.image_jpeg_quality, optimize=False)
    else:
        img.save(path, "PNG", compress_level=6)
    return path.stat().st_size


def downscale_image(src: Path, out_dir: Path, limits: Limits) -> Split:
    """One image within the pixel and byte limits, same aspect ratio, orientation applied."""
    img, header = _open(src, limits)
    jpeg = header.format == "JPEG"
    width, height = header.display_size
    scale = min(1.0, math.sqrt(limits.image_pixels / (width * height)))
    path = out_dir / f"00000.{'jpg' if jpeg else 'png'}"
    drafted = not jpeg
    with img:
        try:
            for _ in range(8):
                size = _fit_size(width, height, scale, limits.image_pixels)
                turned = size[::-1] if header.orientation in (5, 6, 7, 8) else size
                if not drafted:  # before decoding: let the JPEG decoder scale by 1/2..1/8
                    img.draft(img.mode, turned)
                    drafted = True
                small = _ready(img, jpeg)
                if small.size != turned:
                    small = small.resize(turned, Image.Resampling.LANCZOS, reducing_gap=3.0)
                if header.orientation in _TURN:
                    small = small.transpose(_TURN[header.orientation])
                written = _save(small, path, jpeg, limits)
                if written < limits.image_bytes:
                    piece = Piece(path, "JPEG" if jpeg else "PNG", path.suffix[1:], 0)
                    piece.width, piece.height = small.size
                    piece.box = (0, 0, width, height)
                    return Split([piece], "downscale", {"scale": round(size[0] / width, 6)})
                # Bytes grow with pixels: aim under the byte limit in one more step.
                scale *= min(0.9, math.sqrt(0.85 * limits.image_bytes / written))
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise _decode_failed(exc) from None
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
    img, header = _open(src, limits)
    jpeg = header.format == "JPEG"
    tile = limits.image_tile_size
    overlap = min(limits.image_tile_overlap, tile // 2)
    width, height = header.display_size
    pieces: list[Piece] = []
    with img:
        try:
            img.load()
            for top in tile_starts(height, tile, overlap):
                for left in tile_starts(width, tile, overlap):
                    box = (left, top, min(left + tile, width), min(top + tile, height))
                    part = img.crop(stored_box(box, header.orientation, *img.size))
                    if header.orientation in _TURN:
                        part = part.transpose(_TURN[header.orientation])
                    index = len(pieces)
                    path = out_dir / f"{index:05d}.{'jpg' if jpeg else 'png'}"
                    written = _save(_ready(part, jpeg), path, jpeg, limits)
                    if written >= limits.image_bytes:
                        raise InputError(
                            StatusCode.INPUT_OVER_LIMIT,
                            f"a {tile}-pixel tile is {written / 2**20:.1f} MB; lower "
                            "INGESTD_LIMITS__IMAGE_TILE_SIZE",
                        )
                    piece = Piece(path, "JPEG" if jpeg else "PNG", path.suffix[1:], index)
                    piece.width, piece.height = part.size
                    piece.box = box
                    pieces.append(piece)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise _decode_failed(exc) from None
    notes = {"tile_size": tile, "overlap": overlap, "width": width, "height": height}
    return Split(pieces, "tile", notes)
