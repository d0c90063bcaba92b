"""One ffprobe pass over a video: format, streams and every packet (no decoding).

The packets give the timeline the splitter plans on: keyframe times, every frame time
(to number frames) and bytes per moment (to size segments). Memory grows with the
number of packets (about 16 bytes each), never with the file's bytes; a file whose
packets stop before its claimed end is refused as truncated.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.media.chunking.ffmpeg_run import ToolFailed, tool_output
from pipeline.media.chunking.probe import VIDEO_CODES, MediaInfo, ffprobe_cmd, media_info

RES = 0.05  # seconds per byte bucket
PER_PACKET = 24  # container bytes per packet (index entries), for planning
_ENTRIES = (
    "format=duration,start_time,bit_rate"
    ":stream=index,codec_type,codec_name,width,height,sample_rate,channels,avg_frame_rate"
    ":stream_disposition=attached_pic"
    ":packet=stream_index,pts_time,dts_time,duration_time,size,flags"
)


@dataclass
class PacketScan:
    """The video's timeline: keyframes, every frame time, and bytes per moment."""

    t0: float  # first video frame time: time zero of the video (input seconds)
    end: float  # end of the last packet (input seconds)
    first_dts: float  # earliest decode time of any packet
    keyframes: list[float]
    frames: list[float]  # every video frame time, sorted
    prefix: array[int]  # cumulative bytes per RES bucket from t0

    def bytes_before(self, t: float) -> int:
        i = min(len(self.prefix) - 1, max(0, math.floor((t - self.t0) / RES)))
        return self.prefix[i]

    def frame_index(self, t: float) -> int:
        """Number of video frames shown before time t."""
        return bisect_left(self.frames, t - 1e-6)


class _Stream:
    __slots__ = ("keys", "sizes", "times")

    def __init__(self) -> None:
        self.times: array[float] = array("d")
        self.sizes: array[int] = array("q")
        self.keys: array[float] = array("d")


def probe_and_scan(
    path: Path, fmt: str, timeout: float, max_seconds: float
) -> tuple[MediaInfo, PacketScan]:
    """Format, streams and packets of a video in one ffprobe run."""
    cmd = ffprobe_cmd(fmt, path, "-show_entries", _ENTRIES, "-of", "compact")
    streams: dict[int, _Stream] = {}
    stream_docs: list[dict[str, Any]] = []
    fmt_doc: dict[str, Any] = {}
    end, first_dts = -math.inf, math.inf
    try:
        with tool_output(cmd, timeout) as (out, tail):
            for line in out:
                if line.startswith(b"packet|"):
                    f = _fields(line)
                    try:
                        index, size = int(f[b"stream_index"]), int(f[b"size"])
                    except (KeyError, ValueError):
                        continue
                    t = _time(f.get(b"pts_time"))
                    dts = _time(f.get(b"dts_time"))
                    t = t if t is not None else dts
                    if t is None:
                        continue
                    first_dts = min(first_dts, dts if dts is not None else t)
                    end = max(end, t + (_time(f.get(b"duration_time")) or 0.0))
                    s = streams.setdefault(index, _Stream())
                    s.times.append(t)
                    s.sizes.append(size)
                    if f.get(b"flags", b"").startswith(b"K"):
                        s.keys.append(t)
                elif line.startswith(b"stream|"):
                    stream_docs.append({k.decode(): v.decode() for k, v in _fields(line).items()})
                elif line.startswith(b"format|"):
                    fmt_doc = {k.decode(): v.decode() for k, v in _fields(line).items()}
    except ToolFailed as exc:
        raise InputError(VIDEO_CODES.failed, f"video could not be read: {exc.detail}") from None
    info = media_info(fmt, fmt_doc, stream_docs, path.stat().st_size, VIDEO_CODES, max_seconds)
    video = info.video
    if video is None:
        raise InputError(VIDEO_CODES.unsupported, f"{fmt} file has no video stream")
    vs = streams.get(video.index)
    if vs is None or not vs.keys:
        raise InputError(VIDEO_CODES.failed, "video has no decodable video packets or keyframes")
    stop = info.start_time + info.duration
    if "partial file" in tail or end < stop - 1.0:
        raise InputError(
            VIDEO_CODES.failed,
            f"video is truncated or corrupt: its header says {info.duration:.2f}s but its "
            f"packets stop at {max(0.0, end - info.start_time):.2f}s",
        )
    frames = sorted(vs.times)
    t0 = frames[0]
    prefix = _prefix(streams.values(), t0)
    return info, PacketScan(t0, end, first_dts, sorted(set(vs.keys)), frames, prefix)


def _prefix(streams: Any, t0: float) -> array[int]:
    """Cumulative bytes (with per-packet container overhead) per RES bucket from t0."""
    pairs = (
        (t, size + PER_PACKET) for s in streams for t, size in zip(s.times, s.sizes, strict=True)
    )
    return bucket_prefix(pairs, t0)


def bucket_prefix(packets: Iterable[tuple[float, int]], t0: float) -> array[int]:
    """Cumulative bytes per RES bucket from t0 of (time, bytes) packets, in any order."""
    buckets: array[int] = array("q")
    for t, size in packets:
        i = max(0, math.floor((t - t0) / RES))
        if i >= len(buckets):
            buckets.extend([0] * (i + 1 - len(buckets)))
        buckets[i] += size
    prefix: array[int] = array("q", [0])
    total = 0
    for b in buckets:
        total += b
        prefix.append(total)
    return prefix


def _fields(line: bytes) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for part in line.rstrip(b"\r\n").split(b"|")[1:]:
        key, sep, value = part.partition(b"=")
        if sep:
            out[key] = value
    return out


def _time(raw: bytes | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
