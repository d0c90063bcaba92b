"""What ffprobe says about a video or audio file: duration, streams, codecs; and is it whole.

Failures become InputErrors with the caller's status codes (31xxx for video, 30xxx for
audio), with what ffprobe said, so a person can tell a truncated upload from a wrong type.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.media.chunking.ffmpeg_run import ToolFailed, file_url, input_args, tool_output
from pipeline.status import StatusCode

_JSON_CAP = 4 * 1024 * 1024  # a probe of a sane file is a few KB
_TAIL_SECONDS = 1.0


@dataclass(frozen=True)
class Codes:
    """The status codes one media type uses for unreadable, unsupported and over-limit."""

    failed: StatusCode
    unsupported: StatusCode
    over: StatusCode


VIDEO_CODES = Codes(
    StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED,
    StatusCode.INPUT_VIDEO_UNSUPPORTED_FORMAT,
    StatusCode.INPUT_VIDEO_OVER_LIMIT,
)
AUDIO_CODES = Codes(
    StatusCode.INPUT_FAILED, StatusCode.INPUT_UNSUPPORTED_FORMAT, StatusCode.INPUT_OVER_LIMIT
)


@dataclass(frozen=True)
class Stream:
    index: int
    codec_type: str
    codec_name: str
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    frame_rate: float | None = None
    attached_pic: bool = False


@dataclass(frozen=True)
class MediaInfo:
    format: str  # the sniffed format the demuxer was forced to
    duration: float  # seconds
    start_time: float
    size: int
    bit_rate: float | None
    streams: tuple[Stream, ...]

    @property
    def video(self) -> Stream | None:
        return next(
            (s for s in self.streams if s.codec_type == "video" and not s.attached_pic), None
        )

    @property
    def audio(self) -> Stream | None:
        return next((s for s in self.streams if s.codec_type == "audio"), None)


def ffprobe_cmd(fmt: str, path: Path, *args: str) -> list[str]:
    return ["ffprobe", "-v", "error", "-hide_banner", *input_args(fmt), *args, file_url(path)]


def probe_media(
    path: Path, fmt: str, codes: Codes, timeout: float, max_seconds: float
) -> MediaInfo:
    """Duration and streams of a local file read with the demuxer of `fmt`."""
    what = f"{fmt} file"
    cmd = ffprobe_cmd(fmt, path, "-show_format", "-show_streams", "-of", "json")
    try:
        with tool_output(cmd, timeout) as (out, _tail):
            raw = out.read(_JSON_CAP + 1)
    except ToolFailed as exc:
        raise InputError(codes.failed, f"{what} could not be read: {exc.detail}") from None
    if len(raw) > _JSON_CAP:
        raise InputError(codes.unsupported, f"{what} has an absurd number of streams")
    try:
        doc = json.loads(raw or b"{}")
    except ValueError:
        raise InputError(codes.failed, f"{what}: ffprobe gave no readable answer") from None
    return media_info(
        fmt, doc.get("format", {}), doc.get("streams", []), path.stat().st_size, codes, max_seconds
    )


def media_info(
    fmt: str,
    fmt_doc: dict[str, Any],
    stream_docs: list[dict[str, Any]],
    size: int,
    codes: Codes,
    max_seconds: float,
) -> MediaInfo:
    """MediaInfo from ffprobe's format and stream entries; refuses zero or absurd durations."""
    what = f"{fmt} file"
    duration = _float(fmt_doc.get("duration"))
    if duration is None or not math.isfinite(duration) or duration <= 0:
        raise InputError(
            codes.failed, f"{what} has a zero or unknown duration ({fmt_doc.get('duration')})"
        )
    if duration > max_seconds:
        raise InputError(
            codes.over,
            f"{what} claims a duration of {duration:.0f}s; more than {max_seconds:.0f}s is "
            "refused as absurd (INGESTD_LIMITS__VIDEO_SOURCE_SECONDS)",
        )
    return MediaInfo(
        format=fmt,
        duration=duration,
        start_time=_float(fmt_doc.get("start_time")) or 0.0,
        size=size,
        bit_rate=_float(fmt_doc.get("bit_rate")),
        streams=tuple(_stream(s) for s in stream_docs),
    )


def check_complete(path: Path, info: MediaInfo, codes: Codes, timeout: float) -> None:
    """Refuse a file whose packets stop before its claimed end (truncated or lying header).

    Reads only the last second or so (ffprobe seeks there), so it is cheap on any size.
    """
    end = info.start_time + info.duration
    start = max(info.start_time, end - _TAIL_SECONDS)
    cmd = ffprobe_cmd(
        info.format,
        path,
        "-read_intervals",
        f"{start:.6f}%",
        "-show_entries",
        "packet=pts_time,dts_time,duration_time",
        "-of",
        "csv=p=0",
    )
    try:
        with tool_output(cmd, timeout) as (out, tail):
            last = 0.0
            for line in out:
                fields = [_float(v) for v in line.decode("ascii", "replace").split(",")[:3]]
                fields += [None] * (3 - len(fields))
                pts, dts, duration = fields
                t = pts if pts is not None else dts
                if t is not None and math.isfinite(t):
                    last = max(last, t + (duration or 0.0))
    except ToolFailed as exc:
        raise InputError(
            codes.failed, f"{info.format} file could not be read: {exc.detail}"
        ) from None
    if "partial file" in tail or last < end - _TAIL_SECONDS:
        raise InputError(
            codes.failed,
            f"{info.format} file is truncated or corrupt: its header says {info.duration:.2f}s "
            f"but its data stops at {max(0.0, last - info.start_time):.2f}s",
        )


def _stream(s: dict[str, Any]) -> Stream:
    rate = s.get("avg_frame_rate") or s.get("r_frame_rate") or ""
    return Stream(
        index=int(s.get("index", 0)),
        codec_type=str(s.get("codec_type", "")),
        codec_name=str(s.get("codec_name", "unknown")),
        width=_int(s.get("width")),
        height=_int(s.get("height")),
        sample_rate=_int(s.get("sample_rate")),
        channels=_int(s.get("channels")),
        frame_rate=_ratio(rate),
        attached_pic=bool(
            _int((s.get("disposition") or {}).get("attached_pic"))
            or _int(s.get("disposition:attached_pic"))  # compact output flattens it
        ),
    )


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _ratio(text: str) -> float | None:
    num, _, den = str(text).partition("/")
    n, d = _float(num), _float(den or "1")
    return n / d if n and d else None
