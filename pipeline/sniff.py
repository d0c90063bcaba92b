"""Recognise and check media bytes: what type they really are, and whether they fit the limits.

Types are decided by content (magic bytes), not by the name a user gave them. Image
headers are read with Pillow under its decompression-bomb guard, so a header that lies
about the size is caught before any pixel is decoded; the pixels are then decoded in
bounded memory (pipeline.pixels).
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from pipeline.errors import InputError
from pipeline.limits import IMAGE_FORMATS, Limits
from pipeline.models import MediaType
from pipeline.pixels import (
    VIPS_CHECKED,
    Source,
    give_back,
    refuse_frames,
    refuse_unbounded,
    tiff_pages,
    verify,
)
from pipeline.status import StatusCode

# Pillow raises DecompressionBombError at twice this; we refuse anything over it ourselves.
Image.MAX_IMAGE_PIXELS = 85_000_000

_EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "TIFF": "tif",
    "BMP": "bmp",
    "WEBP": "webp",
    "GIF": "gif",
    "MP4": "mp4",
    "MOV": "mov",
    "3GPP": "3gp",
    "AVI": "avi",
    "WMV": "wmv",
    "WAV": "wav",
    "MP3": "mp3",
    "FLAC": "flac",
    "OGG": "ogg",
    "M4A": "m4a",
    "TXT": "txt",
}
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


@dataclass(frozen=True)
class Sniffed:
    media_type: MediaType | None
    format: str  # JPEG, MP4, WAV, TXT, ... or a description of what it is instead

    @property
    def extension(self) -> str:
        return _EXTENSIONS.get(self.format, "bin")


def sniff(head: bytes) -> Sniffed:
    """Tell the media type and format from the first bytes of a file."""
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed(MediaType.IMAGE, "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(MediaType.IMAGE, "PNG")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Sniffed(MediaType.IMAGE, "TIFF")
    if head.startswith(b"BM"):
        return Sniffed(MediaType.IMAGE, "BMP")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed(MediaType.IMAGE, "GIF")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed(MediaType.IMAGE, "WEBP")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Sniffed(MediaType.AUDIO, "WAV")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed(MediaType.VIDEO, "AVI")
    if head[:16] == bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"):
        return Sniffed(MediaType.VIDEO, "WMV")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"3g"):
            return Sniffed(MediaType.VIDEO, "3GPP")
        if brand == b"qt  ":
            return Sniffed(MediaType.VIDEO, "MOV")
        if brand in (b"M4A ", b"M4B "):
            return Sniffed(MediaType.AUDIO, "M4A")
        return Sniffed(MediaType.VIDEO, "MP4")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return Sniffed(MediaType.VIDEO, "MOV")
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return Sniffed(MediaType.AUDIO, "MP3")
    if head.startswith(b"fLaC"):
        return Sniffed(MediaType.AUDIO, "FLAC")
    if head.startswith(b"OggS"):
        return Sniffed(MediaType.AUDIO, "OGG")
    for magic, name in _OTHER:
        if head.startswith(magic):
            return Sniffed(None, name)
    if _looks_like_text(head):
        return Sniffed(MediaType.TEXT, "TXT")
    return Sniffed(None, "unknown binary data")


_OTHER = (
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"%PDF", "PDF document"),
    (b"\x7fELF", "ELF executable"),
    (b"8BPS", "Photoshop image"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000 image"),
)


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is still text.
        return exc.start >= len(head) - 3
    return True


@contextmanager
def _pillow_refusals(unreadable: str, *more: type[Exception]) -> Iterator[None]:
    """Pillow's errors as input errors: bombs over the limit, unknown bytes unsupported, the
    rest unreadable (`unreadable` says what failed; `more`: other errors that mean it)."""
    failed: tuple[type[Exception], ...] = (OSError, SyntaxError, ValueError, EOFError, *more)
    try:
        with warnings.catch_warnings():
            # Our own pixel checks give the clearer message; past twice the limit Pillow
            # still refuses at open with DecompressionBombError.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(
            StatusCode.INPUT_OVER_LIMIT, f"image refused as a decompression bomb: {exc}"
        ) from None
    except UnidentifiedImageError:
        raise InputError(
            StatusCode.INPUT_UNSUPPORTED_FORMAT,
            "the bytes are not an image Pillow can identify (corrupt or unsupported format)",
        ) from None
    except failed as exc:
        raise InputError(StatusCode.INPUT_FAILED, f"{unreadable}: {exc}") from None


def check_image(data: bytes, limits: Limits) -> tuple[str, int, int]:
    """Decode an image fully and check it; returns (format, width, height)."""
    if len(data) >= limits.image_bytes:
        raise InputError(
            StatusCode.INPUT_OVER_LIMIT,
            f"image is {len(data) / 2**20:.1f} MB; images must be under "
            f"{limits.image_bytes / 2**20:.0f} MB",
        )
    with _pillow_refusals("image could not be decoded"), Image.open(io.BytesIO(data)) as img:
        fmt = img.format or "unknown"
        width, height = img.size
        if fmt == "MPO":  # multi-picture JPEG (phone cameras): a JPEG to the user
            fmt = "JPEG"
        if fmt not in IMAGE_FORMATS:
            raise InputError(
                StatusCode.INPUT_UNSUPPORTED_FORMAT,
                f"image format {fmt} is not supported; use one of "
                f"{', '.join(sorted(IMAGE_FORMATS))}",
            )
        _check_pixels(width, height, limits)
        frames = _decode_guards(img, fmt, data, "checked")
        if fmt == "JPEG":
            # Decode at 1/8 scale: every entropy-coded block is still read (so
            # truncation and corruption still fail), at a fraction of the cost.
            img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
        elif fmt not in VIPS_CHECKED:  # GIF, BMP: Pillow decodes the frame whole
            refuse_unbounded(fmt, width * height, frame_bytes(img.mode), "checked")
        if fmt not in VIPS_CHECKED:
            img.load()  # decode the image data: truncated or corrupt data fails here
            img.close()
            give_back(width * height)
    if fmt in VIPS_CHECKED:
        # libvips, a few rows (or a reduced frame) at a time
        verify(data, fmt, width, height, frames)
    return fmt, width, height


def frame_bytes(mode: str) -> int:
    """Bytes per pixel Pillow holds for a decoded image in `mode` (RGB is stored as 4)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _decode_guards(img: Image.Image, fmt: str, source: Source, doing: str) -> int:
    """Refuse what no decoder bounds: too many frames or pages, a large progressive JPEG.

    Returns the frame (WEBP) or page (TIFF) count; only the first is ever decoded.
    """
    frames = 1
    if fmt == "WEBP":
        frames = getattr(img, "n_frames", 1)  # Pillow's demuxer counted them at open
        refuse_frames("animated WEBP", frames, "frame")
    elif fmt == "TIFF":
        frames = tiff_pages(source)
        refuse_frames("TIFF", frames, "page")
    elif fmt == "JPEG" and img.info.get("progressive"):
        # libjpeg holds every DCT coefficient (2 bytes a sample) of a progressive JPEG until
        # its last scan, at any decode scale.
        layers = getattr(img, "layer", None) or [("", 1, 1, 0)]
        hmax = max(h for _, h, _, _ in layers)
        vmax = max(v for _, _, v, _ in layers)
        per_pixel = math.ceil(2 * sum(h * v for _, h, v, _ in layers) / (hmax * vmax))
        refuse_unbounded(
            "progressive JPEG", img.width * img.height, per_pixel, doing,
            remedy="save it as a baseline (not progressive) JPEG, or as PNG",
        )  # fmt: skip
    return frames


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says, without decoding a pixel."""

    format: str
    width: int  # as stored
    height: int
    orientation: int  # EXIF orientation, 1 (as stored) to 8
    frames: int = 1  # frames (WEBP) or pages (TIFF); only the first is decoded

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height once the EXIF orientation is applied."""
        if self.orientation in _ROTATED:
            return self.height, self.width
        return self.width, self.height

    @property
    def pixels(self) -> int:
        return self.width * self.height


def image_header(source: bytes | Path, limits: Limits) -> ImageHeader:
    """Format, size and orientation from the header; refuses unsupported formats and bombs."""
    with _pillow_refusals("image header is unreadable", TypeError):
        fp = io.BytesIO(source) if isinstance(source, bytes) else source
        with Image.open(fp) as img:
            fmt = "JPEG" if img.format == "MPO" else img.format or "unknown"
            width, height = img.size
            # PNG keeps EXIF anywhere, so getexif() would decode the whole image to
            # find it: use only what the header already gave.
            has_exif = fmt != "PNG" or "exif" in img.info
            orientation = int(img.getexif().get(0x0112, 1) or 1) if has_exif else 1
            frames = _decode_guards(img, fmt, source, "decoded")
    if fmt not in IMAGE_FORMATS:
        raise InputError(
            StatusCode.INPUT_UNSUPPORTED_FORMAT,
            f"image format {fmt} is not supported; use one of {', '.join(sorted(IMAGE_FORMATS))}",
        )
    if width <= 0 or height <= 0 or width * height > limits.image_source_pixels:
        raise InputError(
            StatusCode.INPUT_OVER_LIMIT,
            f"image is {width}x{height} = {width * height / 1e6:.1f} megapixels; the media "
            f"stage downscales or tiles images up to {limits.image_source_pixels / 1e6:.0f} "
            "megapixels",
        )
    orientation = orientation if 1 <= orientation <= 8 else 1
    return ImageHeader(fmt, width, height, orientation, frames)


def human(size: float) -> str:
    """Bytes as a person reads them: 812 B, 58.6 KB, 127.9 MB."""
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} MB"


def image_over_limit(size: int, header: ImageHeader, limits: Limits) -> str | None:
    """Why an image must be downscaled or tiled, or None when it fits."""
    if header.pixels > limits.image_pixels:
        return (
            f"image is {header.width}x{header.height} = {header.pixels / 1e6:.1f} megapixels; "
            f"the limit is {limits.image_pixels / 1e6:.0f} megapixels"
        )
    if size >= limits.image_bytes:
        return f"image is {human(size)}; images must be under {human(limits.image_bytes)}"
    return None


def _check_pixels(width: int, height: int, limits: Limits) -> None:
    pixels = width * height
    if pixels > limits.image_pixels or width <= 0 or height <= 0:
        raise InputError(
            StatusCode.INPUT_OVER_LIMIT,
            f"image is {width}x{height} = {pixels / 1e6:.1f} megapixels; the limit is "
            f"{limits.image_pixels / 1e6:.0f} megapixels",
        )


def check_text(data: bytes, limits: Limits) -> str:
    if len(data) >= limits.text_bytes:
        raise InputError(
            StatusCode.INPUT_OVER_LIMIT,
            f"text is {len(data) / 2**20:.1f} MB; "
            f"text must be under {limits.text_bytes / 2**20:.0f} MB",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            StatusCode.INPUT_UNSUPPORTED_FORMAT,
            f"text is not valid UTF-8 (byte {exc.start}); save it as UTF-8",
        ) from None
