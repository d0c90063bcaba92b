"""Check one medium against the limits: it fits, it goes to the media stage, or it is refused.

A medium is bytes in memory or, when it is large (a URL body, a big blob), a local file
(read whole only when within a limit small enough to decode in memory). Videos and non-WAV
audio are probed with ffprobe (duration, streams, a truncated tail); images by their
header, then decoded when they fit. Media over
a limit that splitting can fix are `oversized` when `limits.oversized` is "split" and
refused (30105 / 31105) when it is "refuse".
"""

from __future__ import annotations

import codecs
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputError
from pipeline.limits import VIDEO_FORMATS, Limits
from pipeline.media.chunking.audio import read_wav_layout, wav_layout_of
from pipeline.media.chunking.probe import AUDIO_CODES, VIDEO_CODES, check_complete, probe_media
from pipeline.media.chunking.text import check_utf8
from pipeline.models import MediaType
from pipeline.pixels import VIPS_CHECKED, verify
from pipeline.sniff import (
    Sniffed,
    check_image,
    check_text,
    human,
    image_header,
    image_over_limit,
    sniff,
)
from pipeline.status import StatusCode

CONVERTIBLE_AUDIO = frozenset({"MP3", "FLAC", "OGG", "M4A"})
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Checked:
    sniffed: Sniffed
    width: int | None = None
    height: int | None = None
    oversized: str | None = None  # why the media stage must split it; None when it fits


def size_of(source: bytes | Path) -> int:
    return len(source) if isinstance(source, bytes) else source.stat().st_size


def check_medium(
    source: bytes | Path,
    declared: MediaType,
    limits: Limits,
    by_url: bool = False,
    workdir: Path | None = None,
) -> Checked:
    """Check the medium is the declared type, in a supported format, and fits or can be split."""
    if declared is MediaType.TEXT:
        return _text(source, limits)
    found = sniff(_head(source))
    if found.media_type is not declared:
        what = f"{found.media_type.value} ({found.format})" if found.media_type else found.format
        raise InputError(
            StatusCode.INPUT_UNSUPPORTED_FORMAT,
            f"declared as {declared.value} but the content is {what}",
        )
    if declared is MediaType.IMAGE:
        return _image(source, found, limits)
    if declared is MediaType.VIDEO:
        return _video(source, found, limits, by_url, workdir)
    return _audio(source, found, limits, workdir)


def _head(source: bytes | Path) -> bytes:
    if isinstance(source, bytes):
        return source[:64]
    with source.open("rb") as fh:
        return fh.read(64)


def _small(source: bytes | Path) -> bytes:
    """A medium within its limit: bytes already, or (rarely: the blob shrank) read now."""
    return source if isinstance(source, bytes) else source.read_bytes()


def _split_or_refuse(limits: Limits, code: StatusCode, reason: str) -> str:
    if limits.oversized == "refuse":
        raise InputError(code, f"{reason} (INGESTD_LIMITS__OVERSIZED=split would split it)")
    return reason


def _text(source: bytes | Path, limits: Limits) -> Checked:
    sniffed = Sniffed(MediaType.TEXT, "TXT")
    size = size_of(source)
    if size < limits.text_bytes:
        check_text(_small(source), limits)
        return Checked(sniffed)
    reason = f"text is {human(size)}; text must be under {human(limits.text_bytes)}"
    _split_or_refuse(limits, StatusCode.INPUT_OVER_LIMIT, reason)
    if isinstance(source, bytes):
        _check_utf8_bytes(source)
    else:
        check_utf8(source)
    return Checked(sniffed, oversized=reason)


def _check_utf8_bytes(data: bytes) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), _BLOCK):
        try:
            decoder.decode(view[start : start + _BLOCK], final=start + _BLOCK >= len(data))
        except UnicodeDecodeError as exc:
            raise InputError(
                StatusCode.INPUT_UNSUPPORTED_FORMAT,
                f"text is not valid UTF-8 (byte {start + exc.start}); save it as UTF-8",
            ) from None


def _image(source: bytes | Path, found: Sniffed, limits: Limits) -> Checked:
    if limits.oversized == "refuse":
        if not isinstance(source, bytes) and size_of(source) >= limits.image_bytes:
            raise InputError(StatusCode.INPUT_OVER_LIMIT, "image is over the byte limit")
        fmt, width, height = check_image(_small(source), limits)
        return Checked(Sniffed(MediaType.IMAGE, fmt), width, height)
    header = image_header(source, limits)
    reason = image_over_limit(size_of(source), header, limits)
    if reason is None:
        if header.format in VIPS_CHECKED:
            # The header is read and guarded already: libvips decodes the data (from the file
            # itself when there is one), without a second Pillow open and parse.
            verify(source, header.format, header.width, header.height, header.frames)
            return Checked(Sniffed(MediaType.IMAGE, header.format), header.width, header.height)
        fmt, width, height = check_image(_small(source), limits)  # corrupt data fails here
        return Checked(Sniffed(MediaType.IMAGE, fmt), width, height)
    width, height = header.display_size
    return Checked(Sniffed(MediaType.IMAGE, header.format), width, height, oversized=reason)


def _video(
    source: bytes | Path, found: Sniffed, limits: Limits, by_url: bool, workdir: Path | None
) -> Checked:
    if found.format not in VIDEO_FORMATS:
        raise InputError(
            StatusCode.INPUT_VIDEO_UNSUPPORTED_FORMAT,
            f"video format {found.format} is not supported; use one of "
            f"{', '.join(sorted(VIDEO_FORMATS))}",
        )
    size = size_of(source)
    limit = limits.video_url_bytes + 1 if by_url else limits.video_bytes
    how = "fetched by URL" if by_url else "sent as bytes"
    over = None
    if size >= limit:
        over = f"video {how} is {human(size)}; the limit is {human(limit)}"
        over = _split_or_refuse(limits, StatusCode.INPUT_VIDEO_OVER_LIMIT, over)
    with _as_file(source, found, workdir) as path:
        info = probe_media(
            path, found.format, VIDEO_CODES, limits.probe_timeout_s, limits.video_source_seconds
        )
        if info.video is None:
            raise InputError(
                StatusCode.INPUT_VIDEO_UNSUPPORTED_FORMAT,
                f"{found.format} file has no video stream",
            )
        check_complete(path, info, VIDEO_CODES, limits.probe_timeout_s)
    if over is None and info.duration > limits.video_url_seconds:
        over = f"video is {info.duration:.0f}s long; the limit is {limits.video_url_seconds:.0f}s"
        over = _split_or_refuse(limits, StatusCode.INPUT_VIDEO_OVER_LIMIT, over)
    return Checked(found, info.video.width, info.video.height, oversized=over)


def _audio(source: bytes | Path, found: Sniffed, limits: Limits, workdir: Path | None) -> Checked:
    if found.format == "WAV":
        if isinstance(source, bytes):
            wav_layout_of(source)
        else:
            with source.open("rb") as fh:
                read_wav_layout(fh, size_of(source))
        size = size_of(source)
        if size < limits.audio_bytes:
            return Checked(found)
        reason = f"audio is {human(size)}; WAV audio must be under {human(limits.audio_bytes)}"
        return Checked(
            found, oversized=_split_or_refuse(limits, StatusCode.INPUT_OVER_LIMIT, reason)
        )
    if found.format not in CONVERTIBLE_AUDIO or limits.oversized == "refuse":
        raise InputError(
            StatusCode.INPUT_UNSUPPORTED_FORMAT,
            f"audio format {found.format} is not supported; convert it to WAV",
        )
    with _as_file(source, found, workdir) as path:
        info = probe_media(
            path, found.format, AUDIO_CODES, limits.probe_timeout_s, limits.video_source_seconds
        )
        if info.audio is None:
            raise InputError(
                StatusCode.INPUT_UNSUPPORTED_FORMAT, f"{found.format} file has no audio stream"
            )
        check_complete(path, info, AUDIO_CODES, limits.probe_timeout_s)
    return Checked(found, oversized=f"{found.format} audio is converted to WAV by the media stage")


@contextmanager
def _as_file(source: bytes | Path, found: Sniffed, workdir: Path | None) -> Iterator[Path]:
    """A local file with the medium: the file itself, or the bytes written to a temp file."""
    if isinstance(source, Path):
        yield source
        return
    with tempfile.NamedTemporaryFile(dir=workdir, suffix=f".{found.extension}") as fh:
        fh.write(source)
        fh.flush()
        yield Path(fh.name)
