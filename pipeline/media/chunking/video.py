"""Video over a limit: segments each within every limit, cut at keyframes or re-encoded exactly.

Copy mode (default) plans cuts at keyframes from the MP4/MOV index (mp4_index.py; other
containers and unusable indexes: one ffprobe pass over the packets, scan.py) and has
ffmpeg's segment muxer stream-copy the file in one pass, the only pass over its bytes.
Exact mode re-encodes (H.264/AAC) with keyframes forced at evenly spaced frame times, so
every cut lands exactly there. Where the cuts really fell is read back from the
segment muxer's list, and every segment is checked against the limits.
"""

from __future__ import annotations

import csv
import math
from bisect import bisect_left, bisect_right
from pathlib import Path

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
from pipeline.media.chunking.mp4_index import INDEXED_FORMATS, index_scan
from pipeline.media.chunking.probe import VIDEO_CODES, MediaInfo, probe_media
from pipeline.media.chunking.scan import PacketScan, probe_and_scan

_CONTAINER = 4096  # fixed container overhead per segment, for planning
_EPS = 0.001  # cut requests sit just before their keyframe
# Copy mode keeps the container; exact mode always writes MP4 (H.264 + AAC).
_COPY_MUXER = {
    "MP4": ("mp4", "mp4"),
    "MOV": ("mov", "mov"),
    "3GPP": ("3gp", "3gp"),
    "AVI": ("avi", "avi"),
    "WMV": ("asf", "wmv"),
}


def plan_copy(scan: PacketScan, max_bytes: int, max_seconds: float) -> list[float] | None:
    """Keyframe cut times giving segments within both budgets, about equal; None if no plan fits."""
    total = scan.bytes_before(scan.end + 1) - _CONTAINER
    duration = scan.end - scan.t0
    by_bytes = max(1, math.ceil(total / max_bytes))
    by_time = max(1, math.ceil(duration / max_seconds))
    # Aim at equal parts first (a 10.5-minute video becomes two halves, not 10 + 0.5).
    even = _greedy(
        scan,
        min(max_bytes, int(total / by_bytes * 1.15)),
        min(max_seconds, duration / by_time * 1.15),
    )
    return even if even is not None else _greedy(scan, max_bytes, max_seconds)


def _greedy(scan: PacketScan, max_bytes: int, max_seconds: float) -> list[float] | None:
    keys = scan.keyframes
    at = [0] + [scan.bytes_before(k) for k in keys[1:]]  # chunk 0 starts at the file's start
    end_bytes = scan.bytes_before(scan.end + 1)
    cuts: list[float] = []
    i = 0
    while True:
        start = keys[i]
        if end_bytes - at[i] + _CONTAINER <= max_bytes and scan.end - start <= max_seconds:
            return cuts
        by_time = bisect_right(keys, start + max_seconds) - 1
        by_bytes = bisect_right(at, at[i] + max_bytes - _CONTAINER) - 1
        j = min(by_time, by_bytes)
        if j <= i:
            return None  # one GOP alone is over a budget: only re-encoding can cut it
        cuts.append(keys[j])
        i = j


def plan_exact(scan: PacketScan, max_bytes: int, max_seconds: float) -> list[float]:
    """Evenly spaced cuts, each moved to the nearest frame time."""
    total = scan.bytes_before(scan.end + 1)
    duration = scan.end - scan.t0
    parts = max(1, math.ceil(total / max_bytes), math.ceil(duration / max_seconds))
    cuts: list[float] = []
    for n in range(1, parts):
        target = scan.t0 + n * duration / parts
        i = min(len(scan.frames) - 1, bisect_left(scan.frames, target))
        if i > 0 and target - scan.frames[i - 1] < scan.frames[i] - target:
            i -= 1
        if scan.frames[i] > (cuts[-1] if cuts else scan.t0):
            cuts.append(scan.frames[i])
    return cuts


def split_video(src: Path, fmt: str, out_dir: Path, limits: Limits) -> Split:
    """Segments of `src` (sniffed as `fmt`), each under the byte and duration limits."""
    info, scan = _timeline(src, fmt, limits)
    max_seconds = limits.video_url_seconds - min(1.0, 0.1 * limits.video_url_seconds)
    max_bytes = int(limits.video_bytes * limits.split_target)
    mode = limits.video_split_mode
    for attempt in range(4):
        cuts = plan_copy(scan, max_bytes, max_seconds) if mode == "copy" else None
        if cuts is None:
            mode = "exact"  # fall back: a GOP longer or larger than a whole chunk
            cuts = plan_exact(scan, max_bytes, max_seconds)
        work = out_dir / f"try{attempt}"
        work.mkdir()
        pieces = _run_split(src, info, scan, cuts, mode, work, limits, max_bytes)
        if _fit(pieces, limits):
            return Split(pieces, mode, _notes(info, mode, limits))
        max_bytes = int(max_bytes * 0.8)  # the estimate was off (container, re-encode): tighten
        max_seconds *= 0.9
    raise InputError(
        VIDEO_CODES.over, "video could not be split into chunks within the limits after 4 tries"
    )


def _timeline(src: Path, fmt: str, limits: Limits) -> tuple[MediaInfo, PacketScan]:
    """Streams and timeline: from the index of an MP4/MOV/3GP (a header probe and the moov
    box), else, or when the index is unusable, from ffprobe's pass over every packet."""
    if fmt in INDEXED_FORMATS:
        info = probe_media(
            src, fmt, VIDEO_CODES, limits.probe_timeout_s, limits.video_source_seconds
        )
        scan = index_scan(src, info)
        if scan is not None:
            return info, scan
    return probe_and_scan(src, fmt, limits.ffmpeg_timeout_s, limits.video_source_seconds)


def _run_split(
    src: Path,
    info: MediaInfo,
    scan: PacketScan,
    cuts: list[float],
    mode: str,
    work: Path,
    limits: Limits,
    max_bytes: int,
) -> list[Piece]:
    video, audio = info.video, info.audio
    assert video is not None
    muxer, ext = _COPY_MUXER[info.format] if mode == "copy" else ("mp4", "mp4")
    # ffmpeg moves the input's start time to 0, and the muxer then shifts everything
    # so no decode time is negative; cut requests are made in that output timeline.
    offset = -info.start_time
    shift = max(0.0, -(scan.first_dts + offset)) if mode == "copy" else 0.0
    times = ",".join(f"{max(0.0, c + offset + shift - _EPS):.6f}" for c in cuts)
    source = ffmpeg.input(file_url(src), **input_options(info.format))
    streams = [source[str(video.index)]] + ([source[str(audio.index)]] if audio else [])
    listing = work / "segments.csv"
    out: dict[str, object] = {
        "f": "segment",
        "segment_format": muxer,
        "segment_list": str(listing),
        "segment_list_type": "csv",
        "reset_timestamps": 1,
        "map_metadata": -1,
        "fflags": "+bitexact",
        "flags": "+bitexact",
    }
    if times:
        out["segment_times"] = times
    else:
        out["segment_time"] = 10 * limits.video_source_seconds  # one segment: the whole file
    if mode == "copy":
        out["c"] = "copy"
    else:
        seconds = (scan.end - scan.t0) / (len(cuts) + 1)
        rate = max(100_000, int(max_bytes * 8 * 0.85 / seconds) - 128_000)
        keys = ",".join(f"{c + offset:.6f}" for c in cuts)
        out.update(
            {
                "c:v": "libx264",
                "preset": "veryfast",
                "crf": 23,
                "maxrate": rate,
                "bufsize": rate,
                "pix_fmt": "yuv420p",
                "force_key_frames": keys or "0",
                "x264-params": "scenecut=0",  # keyframes only where forced (and every 250)
                "c:a": "aac",
                "b:a": "128k",
            }
        )
    cmd = ffmpeg_cmd(ffmpeg.output(*streams, str(work / f"%05d.{ext}"), **out))
    try:
        run_tool(cmd, limits.ffmpeg_timeout_s)
    except ToolFailed as exc:
        raise InputError(VIDEO_CODES.failed, f"video could not be split: {exc.detail}") from None
    with listing.open(newline="") as fh:
        rows = [(r[0], float(r[1]), float(r[2])) for r in csv.reader(fh) if len(r) >= 3]
    if not rows:
        raise InputError(VIDEO_CODES.failed, "splitting produced no segments")
    if mode == "exact" and len(rows) == len(cuts) + 1:
        bounds = [scan.t0, *cuts]  # forced keyframes: the cuts are where they were asked
    else:  # where the segment muxer says it cut, back in the input's timeline
        bounds = [scan.t0] + [start - offset - shift for _, start, _ in rows[1:]]
    return _pieces(work, rows, bounds, scan, mode, info, ext)


def _pieces(
    work: Path,
    rows: list[tuple[str, float, float]],
    bounds: list[float],
    scan: PacketScan,
    mode: str,
    info: MediaInfo,
    ext: str,
) -> list[Piece]:
    """The segments as written, each with its span in the parent (ms from the first frame)."""
    starts = [round((b - scan.t0) * 1000) for b in bounds]
    ends = [*starts[1:], round((scan.end - scan.t0) * 1000)]
    video = info.video
    assert video is not None
    pieces = []
    for n, (name, start, end) in enumerate(rows):
        piece = Piece(
            path=work / name,
            format="MP4" if mode == "exact" else info.format,
            extension=ext,
            index=n,
            start_ms=starts[n],
            end_ms=ends[n],
            first_frame=scan.frame_index(bounds[n]),
            width=video.width,
            height=video.height,
        )
        piece.info["seconds"] = end - start
        pieces.append(piece)
    return pieces


def _fit(pieces: list[Piece], limits: Limits) -> bool:
    """Every segment is under the byte limit and within the duration limit."""
    for piece in pieces:
        if piece.path.stat().st_size >= limits.video_bytes:
            return False
        longest = max(piece.info["seconds"], ((piece.end_ms or 0) - (piece.start_ms or 0)) / 1000)
        if longest > limits.video_url_seconds:
            return False
    return True


def _notes(info: MediaInfo, mode: str, limits: Limits) -> dict[str, object]:
    kept = {s.index for s in (info.video, info.audio) if s is not None}
    dropped = [f"{s.codec_type}:{s.codec_name}" for s in info.streams if s.index not in kept]
    notes: dict[str, object] = {"duration_ms": round(info.duration * 1000)}
    if mode != limits.video_split_mode:
        notes["fallback"] = "a keyframe interval exceeded a chunk's budget; re-encoded instead"
    if dropped:
        notes["dropped_streams"] = dropped
    return notes
