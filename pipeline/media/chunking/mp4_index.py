"""The timeline of an MP4/MOV/3GP read from its index (the moov box), without a packet pass.

The sample tables of each track (stts, ctts, stss, stsz, stsc, stco/co64, with the edit list)
give what `scan.PacketScan` holds: keyframe times, every frame time and bytes per moment,
in the timeline ffmpeg's demuxer uses. Reading them costs the size of the moov box, not a
pass over the file. Anything this reader does not model exactly (fragmented files, edit
lists of several entries, a moov over MAX_MOOV, tables that disagree with each other or
with the file's size) returns None and the splitter falls back to the packet pass. The
index can still lie consistently (sizes, keyframes): ffmpeg cuts by the same index, and
every segment is checked against the limits after the cut, so a lie costs a retry or a
refusal, never an oversized chunk.
"""

from __future__ import annotations

import struct
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pipeline.media.chunking.probe import MediaInfo
from pipeline.media.chunking.scan import PER_PACKET, PacketScan, bucket_prefix

# Larger indexes take the packet pass: memory here is about 40 bytes per sample.
MAX_MOOV = 32 * 1024 * 1024
MAX_SAMPLES = 2_000_000
INDEXED_FORMATS = frozenset({"MP4", "MOV", "3GPP"})
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


class IndexUnusable(Exception):
    """The index is absent, unusual or inconsistent: take the packet pass instead."""


@dataclass
class _Track:
    timescale: int
    handler: bytes
    dts: array[int]  # decode time of each sample, track units, edit shift applied
    pts: array[int]  # presentation time of each sample
    durations: array[int]
    sizes: array[int]
    sync: array[int] | None  # 0-based keyframe sample numbers; None: every sample is one


def index_scan(path: Path, info: MediaInfo) -> PacketScan | None:
    """The PacketScan of `path` from its index, or None when the packet pass must do it."""
    if info.format not in INDEXED_FORMATS or info.video is None:
        return None
    try:
        with path.open("rb") as fh:
            tracks = _read_tracks(fh, path.stat().st_size)
        return _scan(tracks, info)
    except (IndexUnusable, struct.error, ValueError, IndexError, OverflowError):
        return None


def _read_tracks(fh: BinaryIO, size: int) -> list[_Track]:
    moov = None
    pos = 0
    while pos + 8 <= size:
        fh.seek(pos)
        kind, start, end = _header(fh.read(16), pos, size)
        if kind == b"moof":
            raise IndexUnusable("fragmented")
        if kind == b"moov":
            if end - start > MAX_MOOV or moov is not None:
                raise IndexUnusable("moov too large or twice")
            fh.seek(start)
            moov = fh.read(end - start)
        pos = end
    if moov is None:
        raise IndexUnusable("no moov")
    boxes = _children(moov)
    mvhd = _one(boxes, b"mvhd")
    movie_scale = _u32(mvhd, 20 if mvhd[0] == 1 else 12)
    tracks: list[_Track] = []
    left = MAX_SAMPLES  # over all tracks, checked before each table is expanded
    for kind, body in boxes:
        if kind == b"trak":
            tracks.append(_track(body, movie_scale, size, left))
            left -= len(tracks[-1].sizes)
    return tracks


def _header(raw: bytes, pos: int, limit: int) -> tuple[bytes, int, int]:
    """(type, start of body, end) of the box at `pos`; refuses boxes that overrun."""
    if len(raw) < 8:
        raise IndexUnusable("short box header")
    length, kind = struct.unpack(">I4s", raw[:8])
    start = pos + 8
    if length == 1:
        (length,) = struct.unpack(">Q", raw[8:16])
        start += 8
    elif length == 0:
        length = limit - pos
    end = pos + length
    if end < start or end > limit:
        raise IndexUnusable(f"box {kind!r} overruns its parent")
    return kind, start, end


def _children(body: bytes | memoryview) -> list[tuple[bytes, memoryview]]:
    view = memoryview(body)
    out, pos = [], 0
    while pos + 8 <= len(view):
        kind, start, end = _header(bytes(view[pos : pos + 16]), pos, len(view))
        out.append((kind, view[start:end]))
        pos = end
    return out


def _one(boxes: list[tuple[bytes, memoryview]], kind: bytes) -> memoryview:
    found = [body for k, body in boxes if k == kind]
    if len(found) != 1:
        raise IndexUnusable(f"{len(found)} {kind!r} boxes")
    return found[0]


def _maybe(boxes: list[tuple[bytes, memoryview]], kind: bytes) -> memoryview | None:
    found = [body for k, body in boxes if k == kind]
    if len(found) > 1:
        raise IndexUnusable(f"{len(found)} {kind!r} boxes")
    return found[0] if found else None


def _u32(body: memoryview, at: int) -> int:
    return int(struct.unpack_from(">I", body, at)[0])


def _table(body: memoryview, at: int, code: str, fields: int) -> array[int]:
    """A big-endian table whose entry count is the u32 at `at`, read in one go."""
    count = _u32(body, at)
    item = array(code).itemsize
    raw = body[at + 4 :]
    if count * fields * item > len(raw):
        raise IndexUnusable("table longer than its box")
    table = array(code)
    table.frombytes(raw[: count * fields * item])
    if sys.byteorder == "little":
        table.byteswap()
    return table


def _track(trak: memoryview, movie_scale: int, file_size: int, budget: int) -> _Track:
    boxes = _children(trak)
    mdia = _children(_one(boxes, b"mdia"))
    mdhd = _one(mdia, b"mdhd")
    scale = _u32(mdhd, 20 if mdhd[0] == 1 else 12)
    handler = bytes(_one(mdia, b"hdlr")[8:12])
    stbl = _children(_one(_children(_one(mdia, b"minf")), b"stbl"))
    if scale <= 0 or movie_scale <= 0:
        raise IndexUnusable("zero timescale")
    stts = _table(_one(stbl, b"stts"), 4, "I", 2)
    stsz = _one(stbl, b"stsz")
    fixed, count = _u32(stsz, 4), _u32(stsz, 8)
    if count > budget or (fixed and fixed * count > file_size):
        raise IndexUnusable("sample sizes beyond the file")
    sizes = array("q", [fixed]) * count if fixed else array("q", _table(stsz, 8, "I", 1))
    durations = array("q")
    for n, delta in zip(stts[0::2], stts[1::2], strict=True):
        if len(durations) + n > count:
            raise IndexUnusable("stts lists more samples than stsz")
        durations.extend(array("q", [delta]) * n)
    if len(durations) != count:
        raise IndexUnusable("stts and stsz disagree")
    dts = array("q", [0]) * count
    t = 0
    for i, d in enumerate(durations):
        dts[i] = t
        t += d
    pts = array("q", dts)
    ctts = _maybe(stbl, b"ctts")
    if ctts is not None:
        pairs = _table(ctts, 4, "i", 2)  # signed: version 1, and what ffmpeg reads in 0
        i = 0
        for n, offset in zip(pairs[0::2], pairs[1::2], strict=True):
            if n < 0 or i + n > count:
                raise IndexUnusable("ctts lists more samples than stsz")
            for j in range(i, i + n):
                pts[j] += offset
            i += n
    shift = _edit_shift(_maybe(boxes, b"edts"), movie_scale, scale)
    for i in range(count):
        dts[i] += shift
        pts[i] += shift
    stss = _maybe(stbl, b"stss")
    sync = None
    if stss is not None:
        numbers = _table(stss, 4, "I", 1)
        if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)) or (
            numbers and not 1 <= numbers[0] <= numbers[-1] <= count
        ):
            raise IndexUnusable("keyframe numbers out of order or range")
        sync = array("q", (n - 1 for n in numbers))
    _check_extents(stbl, sizes, file_size)
    return _Track(scale, handler, dts, pts, durations, sizes, sync)


def _edit_shift(edts: memoryview | None, movie_scale: int, scale: int) -> int:
    """The shift of the edit list, as ffmpeg applies it: an optional leading empty edit (a
    delay) then one edit starting at media time M (rate 1). Anything else: unusable."""
    if edts is None:
        return 0
    elst = _one(_children(edts), b"elst")
    version, count = elst[0], _u32(elst, 4)
    fmt = ">QqI" if version == 1 else ">IiI"
    step = struct.calcsize(fmt)
    entries = [struct.unpack_from(fmt, elst, 8 + k * step) for k in range(min(count, 3))]
    delay = 0
    if entries and entries[0][1] == -1:
        delay = entries[0][0] * scale // movie_scale
        entries = entries[1:]
        count -= 1
    if count != 1 or entries[0][1] < 0 or entries[0][2] != 0x10000:
        raise IndexUnusable("an edit list ffmpeg would apply in pieces")
    return int(delay - entries[0][1])


def _check_extents(stbl: list[tuple[bytes, memoryview]], sizes: array[int], size: int) -> None:
    """Every sample, where stsc and the chunk offsets put it, lies inside the file."""
    stco, co64 = _maybe(stbl, b"stco"), _maybe(stbl, b"co64")
    if (stco is None) == (co64 is None):
        raise IndexUnusable("no chunk offsets, or two kinds")
    offsets = _table(stco, 4, "I", 1) if stco is not None else _table(co64, 4, "Q", 1)  # type: ignore[arg-type]
    stsc = _table(_one(stbl, b"stsc"), 4, "I", 3)
    firsts, per_chunk = stsc[0::3], stsc[1::3]
    sample = 0
    for k, first in enumerate(firsts):
        last = firsts[k + 1] - 1 if k + 1 < len(firsts) else len(offsets)
        if first < 1 or last > len(offsets) or last < first - 1:
            raise IndexUnusable("stsc out of range")
        for chunk in range(first - 1, last):
            n = per_chunk[k]
            end = offsets[chunk] + sum(sizes[sample : sample + n])
            sample += n
            if end > size or sample > len(sizes):
                raise IndexUnusable("samples beyond the end of the file (truncated?)")
    if sample != len(sizes):
        raise IndexUnusable("stsc places a different number of samples than stsz lists")


def _scan(tracks: list[_Track], info: MediaInfo) -> PacketScan:
    """The PacketScan ffprobe's packet pass would give for these tracks."""
    if len(tracks) != len(info.streams):
        raise IndexUnusable("tracks and streams differ")
    video_stream = info.video
    assert video_stream is not None
    video = tracks[video_stream.index]
    if video.handler != b"vide" or not len(video.sizes):
        raise IndexUnusable("the video stream is not the video track")
    frames = sorted(p / video.timescale for p in video.pts)
    numbers = video.sync if video.sync is not None else range(len(video.pts))
    keys = sorted({video.pts[n] / video.timescale for n in numbers})
    if not keys:
        raise IndexUnusable("no keyframes")
    t0 = frames[0]
    end, first_dts = -float("inf"), float("inf")
    for track in tracks:
        if not len(track.sizes):
            continue
        s = track.timescale
        end = max(end, max(p + d for p, d in zip(track.pts, track.durations, strict=True)) / s)
        first_dts = min(first_dts, track.dts[0] / s)
    packets = (
        (p / tr.timescale, n + PER_PACKET)
        for tr in tracks
        for p, n in zip(tr.pts, tr.sizes, strict=True)
    )
    prefix = bucket_prefix(packets, t0)
    return PacketScan(t0, end, first_dts, keys, frames, prefix)
