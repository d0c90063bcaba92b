"""The video split plans from the MP4/MOV index, not a packet pass; a lying index falls back
to the packet pass or is refused with a video code, and every chunk still fits the limits."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import pipeline.media.chunking.video as video_mod
from pipeline.errors import InputError
from pipeline.limits import Limits
from pipeline.media.chunking.mp4_index import index_scan
from pipeline.media.chunking.probe import VIDEO_CODES, probe_media
from pipeline.media.chunking.scan import probe_and_scan
from pipeline.media.chunking.video import split_video
from tests.support.media import video_file

VIDEO_STATUS = {VIDEO_CODES.failed, VIDEO_CODES.unsupported, VIDEO_CODES.over}


def fmt_of(path: Path) -> str:
    return "MOV" if path.suffix == ".mov" else "MP4"


@pytest.mark.parametrize(
    "src",
    [
        video_file(),
        video_file(container="mov"),
        video_file(seconds=4.0, gop=7, rate=30),
        video_file(seconds=3.0, audio=False),
    ],
    ids=["mp4", "mov", "short-gop", "no-audio"],
)
def test_the_index_gives_the_timeline_of_the_packet_pass(src: Path) -> None:
    info, packets = probe_and_scan(src, fmt_of(src), 60, 3600)
    indexed = index_scan(src, info)
    assert indexed is not None
    assert indexed.keyframes == pytest.approx(packets.keyframes, abs=1e-5)
    assert indexed.frames == pytest.approx(packets.frames, abs=1e-5)
    assert (indexed.t0, indexed.end, indexed.first_dts) == pytest.approx(
        (packets.t0, packets.end, packets.first_dts), abs=1e-5
    )
    assert list(indexed.prefix) == list(packets.prefix)


def test_an_mp4_is_split_without_a_packet_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_packet_pass(*args: object) -> None:
        raise AssertionError("the packet pass ran")

    monkeypatch.setattr(video_mod, "probe_and_scan", no_packet_pass)
    split = split_video(video_file(), "MP4", tmp_path, Limits(video_bytes=60_000))
    assert len(split.pieces) >= 2
    assert all(p.path.stat().st_size < 60_000 for p in split.pieces)


# -- an index that lies ---------------------------------------------------------------------


def box(data: bytearray, kind: bytes) -> int:
    """Offset of the body of the first box of `kind` (after its 8-byte header)."""
    at = data.index(kind)
    return at + 4


def sizes_beyond_the_file(data: bytearray) -> None:
    at = box(data, b"stsz")
    count = struct.unpack_from(">I", data, at + 8)[0]
    for n in range(count):
        struct.pack_into(">I", data, at + 12 + 4 * n, 0x00FFFFFF)


def halved_sizes(data: bytearray) -> None:
    at = box(data, b"stsz")
    count = struct.unpack_from(">I", data, at + 8)[0]
    for n in range(count):
        size = struct.unpack_from(">I", data, at + 12 + 4 * n)[0]
        struct.pack_into(">I", data, at + 12 + 4 * n, max(1, size // 2))


def absurd_sample_count(data: bytearray) -> None:
    at = box(data, b"stsz")
    struct.pack_into(">II", data, at + 4, 1, 0x7FFFFFFF)  # fixed size 1, 2 G samples


def keyframes_out_of_range(data: bytearray) -> None:
    at = box(data, b"stss")
    count = struct.unpack_from(">I", data, at + 4)[0]
    struct.pack_into(">I", data, at + 8 + 4 * (count - 1), 1_000_000)


def wrong_keyframes(data: bytearray) -> None:  # frames 6 and 11 are no keyframes
    at = box(data, b"stss")
    count = struct.unpack_from(">I", data, at + 4)[0]
    for n in range(count):
        struct.pack_into(">I", data, at + 8 + 4 * n, 1 + 5 * n)


@pytest.mark.parametrize(
    ("lie", "index_used"),
    [
        (sizes_beyond_the_file, False),
        (absurd_sample_count, False),
        (keyframes_out_of_range, False),
        (halved_sizes, True),
        (wrong_keyframes, True),
    ],
)
def test_a_lying_index_falls_back_or_is_refused_and_chunks_fit(
    tmp_path: Path, lie, index_used: bool
) -> None:
    data = bytearray(video_file(seconds=3.0, audio=False).read_bytes())
    lie(data)
    src = tmp_path / "lying.mp4"
    src.write_bytes(data)
    limits = Limits(video_bytes=12_000, probe_timeout_s=20, ffmpeg_timeout_s=20)
    try:
        info = probe_media(src, "MP4", VIDEO_CODES, 20, 3600)
    except InputError as exc:
        assert exc.code in VIDEO_STATUS
        return
    assert (index_scan(src, info) is not None) is index_used
    out = tmp_path / "out"
    out.mkdir()
    try:
        split = split_video(src, "MP4", out, limits)
    except InputError as exc:
        assert exc.code in VIDEO_STATUS, exc
        return
    assert all(p.path.stat().st_size < limits.video_bytes for p in split.pieces)
