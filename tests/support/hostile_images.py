"""Large or lying images that compress to little: for memory tests and the image bench."""

from __future__ import annotations

import struct
from pathlib import Path

import pyvips


def flat_png(path: Path, width: int, height: int, bands: int = 4, sixteen: bool = False) -> Path:
    """A flat PNG of any size, written a few rows at a time (a 13000x13000 RGBA is ~650 KB)."""
    img = pyvips.Image.black(width, height, bands=bands) + 7
    if sixteen:
        img = img.cast("ushort").copy(interpretation="rgb16" if bands >= 3 else "grey16")
    else:
        img = img.cast("uchar").copy(interpretation="srgb" if bands >= 3 else "b-w")
    img.pngsave(str(path), compression=9, palette=False)
    return path


def palette_png(path: Path, width: int, height: int) -> Path:
    img = (pyvips.Image.black(width, height, bands=3) + 40).cast("uchar")
    img.pngsave(str(path), compression=9, palette=True)
    return path


def flat_file(path: Path, width: int, height: int, fmt: str) -> Path:
    """A flat RGB image in `fmt` (jpg, tif, webp) by libvips, streamed."""
    img = (pyvips.Image.black(width, height, bands=3) + 90).cast("uchar")
    img = img.copy(interpretation="srgb")
    options = {"webp": {"lossless": True}, "tif": {"compression": "deflate"}}.get(fmt, {})
    img.write_to_file(str(path), **options)
    return path


def gif_screen(width: int, height: int) -> bytes:
    """A 35-byte GIF: one 1x1 frame on a width x height logical screen."""
    head = b"GIF89a" + struct.pack("<HH", width, height) + bytes([0x80, 0, 0])
    frame = b"," + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00\x02\x02\x44\x01\x00"
    return head + b"\x00\x00\x00\xff\xff\xff" + frame + b";"
