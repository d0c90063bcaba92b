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


def gif_frames(width: int, height: int, frames: int) -> bytes:
    """An animated GIF of `frames` 1x1 frames on a width x height screen (~18 bytes a frame)."""
    head = b"GIF89a" + struct.pack("<HH", width, height) + bytes([0x80, 0, 0])
    head += b"\x00\x00\x00\xff\xff\xff"
    head += b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    control = b"!\xf9\x04\x08\x01\x00\x00\x00"  # restore to background, 10 ms
    frame = b"," + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00\x02\x02\x44\x01\x00"
    return head + (control + frame) * frames + b";"


def gif_big_frame(screen: int, frame_width: int, frame_height: int) -> bytes:
    """A GIF whose header says screen x screen but whose frame says it is far larger (no data)."""
    head = b"GIF89a" + struct.pack("<HH", screen, screen) + bytes([0x80, 0, 0])
    frame = b"," + struct.pack("<HHHH", 0, 0, frame_width, frame_height)
    frame += b"\x00\x02\x02\x44\x01\x00"
    return head + b"\x00\x00\x00\xff\xff\xff" + frame + b";"


def _chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) % 2)


def webp_frames(width: int, height: int, frames: int) -> bytes:
    """An animated WEBP: a width x height canvas of `frames` 1x1 lossless frames (~40 B each)."""
    one = (pyvips.Image.black(1, 1, bands=3) + 9).cast("uchar").copy(interpretation="srgb")
    data = one.webpsave_buffer(lossless=True, keep="none")
    at = data.index(b"VP8L")
    vp8l = data[at : at + 8 + struct.unpack("<I", data[at + 4 : at + 8])[0]]
    vp8l += b"\x00" * (len(vp8l) % 2)

    def u24(n: int) -> bytes:
        return struct.pack("<I", n)[:3]

    vp8x = _chunk(b"VP8X", bytes([0x02, 0, 0, 0]) + u24(width - 1) + u24(height - 1))
    anim = _chunk(b"ANIM", b"\x00\x00\x00\x00\x00\x00")
    frame = _chunk(b"ANMF", u24(0) + u24(0) + u24(0) + u24(0) + u24(10) + b"\x00" + vp8l)
    body = b"WEBP" + vp8x + anim + frame * frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def apng_frames(path: Path, side: int, frames: int) -> Path:
    """An APNG of `frames` distinct side x side frames (Pillow drops repeated frames)."""
    from PIL import Image

    images = [Image.new("L", (side, side), n % 256) for n in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=10, loop=0)
    return path


def tiff_pages(
    path: Path, pages: list[tuple[int, int]], rows_per_strip: int = 16, bits: int = 8
) -> Path:
    """A multipage RGB TIFF, deflate strips of one flat colour, written without decoding.

    `rows_per_strip` 0 puts each page in one strip (a strip decodes whole in libtiff).
    """
    import zlib

    with path.open("wb") as fh:
        fh.write(b"II*\x00\x00\x00\x00\x00")
        link = 4  # where the offset of the next IFD goes
        for width, height in pages:
            rps = rows_per_strip or height
            row = bytes([0x21] * (width * 3 * bits // 8))
            strips = [min(rps, height - top) for top in range(0, height, rps)]
            packed: dict[int, bytes] = {}
            for rows in set(strips):
                z = zlib.compressobj(9)
                blob = b"".join(z.compress(row) for _ in range(rows)) + z.flush()
                packed[rows] = blob
            offsets, counts = [], []
            for rows in strips:
                offsets.append(fh.tell())
                counts.append(len(packed[rows]))
                fh.write(packed[rows])
            link = _ifd(fh, link, [
                (256, 4, [width]), (257, 4, [height]), (258, 3, [bits] * 3), (259, 3, [8]),
                (262, 3, [2]), (273, 4, offsets), (277, 3, [3]), (278, 4, [rps]),
                (279, 4, counts), (284, 3, [1]),
            ])  # fmt: skip
    return path


def _ifd(fh, link: int, entries: list[tuple[int, int, list[int]]]) -> int:  # type: ignore[no-untyped-def]
    """Write one IFD (SHORT=3, LONG=4 values), chain it at `link`; returns its next-IFD slot."""
    if fh.tell() % 2:
        fh.write(b"\x00")
    start = fh.tell()
    extra_at = start + 2 + 12 * len(entries) + 4
    table, extra = b"", b""
    for tag, kind, values in entries:
        raw = struct.pack(f"<{len(values)}{'H' if kind == 3 else 'I'}", *values)
        if len(raw) <= 4:
            table += struct.pack("<HHI", tag, kind, len(values)) + raw.ljust(4, b"\x00")
        else:
            table += struct.pack("<HHII", tag, kind, len(values), extra_at + len(extra))
            extra += raw
    fh.write(struct.pack("<H", len(entries)) + table + b"\x00\x00\x00\x00" + extra)
    end = fh.tell()
    fh.seek(link)
    fh.write(struct.pack("<I", start))
    fh.seek(end)
    return start + 2 + 12 * len(entries)


def png_inflate_bomb(path: Path, width: int, height: int, inflated: int) -> Path:
    """A PNG whose header says width x height but whose data inflates to `inflated` bytes."""
    import zlib

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body)
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    z = zlib.compressobj(9)
    block = bytes(1 << 20)
    data = b"".join(z.compress(block) for _ in range(inflated >> 20)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def progressive_jpeg(path: Path, width: int, height: int) -> Path:
    """A flat progressive 4:4:4 JPEG: small on disk, but libjpeg holds every coefficient."""
    img = (pyvips.Image.black(width, height, bands=3) + 90).cast("uchar")
    img.copy(interpretation="srgb").jpegsave(str(path), interlace=True, subsample_mode="off")
    return path


def bmp_header_only(width: int, height: int) -> bytes:
    """A 24-bit BMP whose header says width x height, followed by no pixel data at all."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    size = 14 + len(info) + width * height * 3
    return b"BM" + struct.pack("<IHHI", size, 0, 0, 54) + info
