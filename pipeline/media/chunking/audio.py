"""Audio over the limit: WAV split exactly on sample boundaries; other formats become WAV first.

A WAV chunk is the parent's own `fmt ` chunk plus a slice of its sample data, copied in
the kernel (copy_file_range), so splitting runs at disk speed in constant memory.
"""

from __future__ import annotations

import io
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import ffmpeg

from pipeline.errors import InputError
from pipeline.limits import Limits
from pipeline.media.chunking import Piece, Split
from pipeline.media.chunking.ffmpeg_run import (
    ToolFailed,
    ffmpeg_cmd,
    file_url,
    input_options,
    run_tool,
)
from pipeline.media.chunking.probe import AUDIO_CODES, probe_media
from pipeline.status import StatusCode

# PCM, IEEE float, A-law, mu-law, extensible: sample data a byte range can carry.
PCM_TAGS = {1, 3, 6, 7, 0xFFFE}
_MAX_CHUNKS = 4096  # RIFF chunks scanned before the header counts as hostile
_MAX_WAV_BYTES = 2**32 - 1


@dataclass(frozen=True)
class WavLayout:
    fmt_chunk: bytes  # the whole `fmt ` chunk, header included
    format_tag: int
    channels: int
    sample_rate: int
    block_align: int
    data_offset: int
    data_size: int

    @property
    def frames(self) -> int:
        return self.data_size // self.block_align

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def read_wav_layout(fh: BinaryIO, size: int) -> WavLayout:
    """Parse the RIFF header of a WAV file of `size` bytes; InputError when it is not sound."""
    head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise InputError(StatusCode.INPUT_UNSUPPORTED_FORMAT, "not a RIFF/WAVE file")
    fmt_chunk: bytes | None = None
    pos = 12
    for _ in range(_MAX_CHUNKS):
        fh.seek(pos)
        header = fh.read(8)
        if len(header) < 8:
            break
        chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk_id == b"fmt ":
            if not 16 <= chunk_size <= 4096:
                break
            fmt_chunk = header + fh.read(chunk_size)
        elif chunk_id == b"data":
            if fmt_chunk is None:
                break
            return _layout(fmt_chunk, pos + 8, chunk_size, size)
        pos += 8 + chunk_size + (chunk_size & 1)
    raise InputError(
        StatusCode.INPUT_FAILED, "WAV header is broken: no `fmt ` chunk followed by a `data` chunk"
    )


def _layout(fmt_chunk: bytes, data_offset: int, data_size: int, size: int) -> WavLayout:
    tag, channels, rate, _byte_rate, align = struct.unpack("<HHIIH", fmt_chunk[8:22])
    if channels == 0 or rate == 0 or align == 0:
        raise InputError(
            StatusCode.INPUT_FAILED,
            f"WAV header is broken: {channels} channels, {rate} Hz, block align {align}",
        )
    available = size - data_offset
    if data_size > available:
        raise InputError(
            StatusCode.INPUT_FAILED,
            f"WAV is truncated: its header announces {data_size} bytes of samples, the file "
            f"holds {max(0, available)}",
        )
    layout = WavLayout(fmt_chunk, tag, channels, rate, align, data_offset, data_size)
    if layout.frames == 0:
        raise InputError(StatusCode.INPUT_FAILED, "WAV has no samples")
    return layout


def wav_layout_of(data: bytes) -> WavLayout:
    return read_wav_layout(io.BytesIO(data), len(data))


def split_wav(src: Path, out_dir: Path, limits: Limits) -> Split:
    """WAV chunks each under the audio byte limit, cut between sample frames."""
    size = src.stat().st_size
    with src.open("rb") as fh:
        layout = read_wav_layout(fh, size)
    header_len = 12 + len(layout.fmt_chunk) + (len(layout.fmt_chunk) & 1) + 8
    max_frames = (limits.audio_bytes - 1 - header_len) // layout.block_align
    if max_frames < 1:
        raise InputError(StatusCode.INPUT_OVER_LIMIT, "the audio byte limit is below one sample")
    count = math.ceil(layout.frames / max_frames)
    per = math.ceil(layout.frames / count)  # balanced: every chunk about the same length
    pieces: list[Piece] = []
    with src.open("rb") as source:
        for index in range(count):
            start = index * per
            end = min(layout.frames, start + per)
            path = out_dir / f"{index:05d}.wav"
            _write_wav_chunk(source, path, layout, start, end)
            pieces.append(
                Piece(
                    path=path,
                    format="WAV",
                    extension="wav",
                    index=index,
                    start_ms=round(start * 1000 / layout.sample_rate),
                    end_ms=round(end * 1000 / layout.sample_rate),
                    start_offset=start,
                    end_offset=end,
                )
            )
    notes = {"sample_rate": layout.sample_rate, "channels": layout.channels}
    return Split(pieces, "wav", notes)


def _write_wav_chunk(source: BinaryIO, path: Path, layout: WavLayout, start: int, end: int) -> None:
    data_len = (end - start) * layout.block_align
    fmt = layout.fmt_chunk + (b"\x00" if len(layout.fmt_chunk) & 1 else b"")
    riff_size = 4 + len(fmt) + 8 + data_len + (data_len & 1)
    with path.open("wb") as out:
        out.write(b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + fmt)
        out.write(b"data" + struct.pack("<I", data_len))
        out.flush()
        _copy_range(source, out, layout.data_offset + start * layout.block_align, data_len)
        if data_len & 1:
            out.write(b"\x00")


def _copy_range(source: BinaryIO, out: BinaryIO, offset: int, length: int) -> None:
    src_fd, dst_fd = source.fileno(), out.fileno()
    dst_pos = out.tell()
    copied = 0
    try:
        while copied < length:
            n = os.copy_file_range(
                src_fd, dst_fd, length - copied, offset + copied, dst_pos + copied
            )
            if n == 0:
                raise InputError(StatusCode.INPUT_FAILED, "WAV data ended early")
            copied += n
        out.seek(dst_pos + copied)
    except OSError:  # another file system or kernel: plain reads in bounded blocks
        source.seek(offset + copied)
        out.seek(dst_pos + copied)
        while copied < length:
            block = source.read(min(1 << 20, length - copied))
            if not block:
                raise InputError(StatusCode.INPUT_FAILED, "WAV data ended early") from None
            out.write(block)
            copied += len(block)


def to_wav(src: Path, fmt: str, out: Path, limits: Limits) -> Path:
    """Decode any supported audio to 16-bit PCM WAV with ffmpeg (same rate and channels)."""
    info = probe_media(src, fmt, AUDIO_CODES, limits.probe_timeout_s, limits.video_source_seconds)
    audio = info.audio
    if audio is None:
        raise InputError(StatusCode.INPUT_UNSUPPORTED_FORMAT, f"{fmt} file has no audio stream")
    rate, channels = audio.sample_rate or 48_000, audio.channels or 2
    if info.duration * rate * channels * 2 >= _MAX_WAV_BYTES:
        raise InputError(
            StatusCode.INPUT_OVER_LIMIT,
            f"{fmt} audio of {info.duration:.0f}s is too long to convert to one WAV (4 GB)",
        )
    cmd = ffmpeg_cmd(
        ffmpeg.input(file_url(src), **input_options(fmt)).output(
            file_url(out),
            map=f"0:{audio.index}",
            acodec="pcm_s16le",
            f="wav",
            map_metadata=-1,
            fflags="+bitexact",
        )
    )
    try:
        run_tool(cmd, limits.ffmpeg_timeout_s)
    except ToolFailed as exc:
        raise InputError(
            StatusCode.INPUT_FAILED, f"{fmt} audio could not be converted: {exc.detail}"
        ) from None
    return out
