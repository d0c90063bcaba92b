"""The splitters on real media: ffmpeg-made videos, WAV files, text and images."""

from __future__ import annotations

import hashlib
import io
import wave
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from pipeline.errors import InputError
from pipeline.limits import Limits
from pipeline.media.chunking import Piece
from pipeline.media.chunking.annotations import clip_polygon, move_annotations
from pipeline.media.chunking.audio import split_wav, to_wav
from pipeline.media.chunking.images import downscale_image, tile_image, tile_starts
from pipeline.media.chunking.text import iter_spans, split_text
from pipeline.media.chunking.video import split_video
from pipeline.models import (
    Annotation,
    AnnotationData,
    BoundingBox,
    Concept,
    Frame,
    FrameInfo,
    Point,
    Polygon,
    Region,
    RegionInfo,
)
from pipeline.status import StatusCode
from tests.support.media import gradient_image, mp3_bytes, probe_duration, video_file, wav_bytes


def out_dir(tmp_path: Path, name: str = "out") -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


def contiguous(pieces: list[Piece], total_ms: int) -> None:
    assert pieces[0].start_ms == 0
    assert pieces[-1].end_ms == total_ms
    for a, b in zip(pieces, pieces[1:], strict=False):
        assert a.end_ms == b.start_ms  # no gap, no overlap
    assert [p.index for p in pieces] == list(range(len(pieces)))


# -- video ----------------------------------------------------------------------------


def test_video_over_the_byte_limit_is_cut_at_keyframes_into_playable_chunks(
    tmp_path: Path,
) -> None:
    src = video_file(seconds=6.0, gop=25)  # a keyframe every second
    limits = Limits(video_bytes=60_000)
    split = split_video(src, "MP4", out_dir(tmp_path), limits)
    assert split.mode == "copy"
    assert len(split.pieces) >= 2
    contiguous(split.pieces, 6000)
    for piece in split.pieces:
        assert piece.path.stat().st_size < limits.video_bytes
        assert piece.start_ms % 1000 == 0  # a keyframe: copy mode cuts nowhere else
        assert piece.first_frame == piece.start_ms * 25 // 1000
        played = probe_duration(piece.path)  # ffprobe reads every chunk
        assert abs(played - (piece.end_ms - piece.start_ms) / 1000) < 0.1
    assert abs(sum(probe_duration(p.path) for p in split.pieces) - 6.0) < 0.15


def test_video_over_the_duration_limit_gets_chunks_within_it(tmp_path: Path) -> None:
    src = video_file(seconds=6.0, gop=25)
    limits = Limits(video_url_seconds=2.5)
    split = split_video(src, "MP4", out_dir(tmp_path), limits)
    assert len(split.pieces) == 3  # 6 s in parts of at most 2.5 s, at 1 s keyframes
    contiguous(split.pieces, 6000)
    assert all(probe_duration(p.path) <= 2.5 for p in split.pieces)


def test_exact_mode_cuts_evenly_on_frames_and_fallback_when_a_gop_is_too_long(
    tmp_path: Path,
) -> None:
    src = video_file(seconds=6.0, gop=150)  # one keyframe only: copy mode cannot cut
    limits = Limits(video_url_seconds=2.5, video_split_mode="exact")
    split = split_video(src, "MP4", out_dir(tmp_path, "exact"), limits)
    assert split.mode == "exact" and len(split.pieces) == 3
    contiguous(split.pieces, 6000)
    assert [p.start_ms for p in split.pieces] == [0, 2000, 4000]
    for piece in split.pieces:
        assert abs(probe_duration(piece.path) - 2.0) < 0.1  # exact: within a frame or so

    fallback = split_video(
        src,
        "MP4",
        out_dir(tmp_path, "copy"),
        limits.model_copy(update={"video_split_mode": "copy"}),
    )
    assert fallback.mode == "exact" and "fallback" in fallback.notes


def test_copy_split_is_deterministic_and_keeps_the_container(tmp_path: Path) -> None:
    limits = Limits(video_url_seconds=2.5)
    src = video_file(seconds=6.0, gop=25)
    first = split_video(src, "MP4", out_dir(tmp_path, "a"), limits)
    again = split_video(src, "MP4", out_dir(tmp_path, "b"), limits)
    digest = [hashlib.sha256(p.path.read_bytes()).hexdigest() for p in first.pieces]
    assert digest == [hashlib.sha256(p.path.read_bytes()).hexdigest() for p in again.pieces]

    avi = split_video(
        video_file(seconds=4.0, gop=25, container="avi"), "AVI", out_dir(tmp_path, "c"), limits
    )
    assert [p.format for p in avi.pieces] == ["AVI", "AVI"]
    assert all(p.path.read_bytes()[8:12] == b"AVI " for p in avi.pieces)


# -- audio ----------------------------------------------------------------------------


@pytest.mark.parametrize("channels,width", [(1, 2), (2, 2), (2, 3)])
def test_wav_is_split_exactly_on_sample_frames(tmp_path: Path, channels: int, width: int) -> None:
    data = wav_bytes(seconds=3.0, rate=8000, channels=channels, width=width)
    src = tmp_path / "a.wav"
    src.write_bytes(data)
    limits = Limits(audio_bytes=20_000)
    split = split_wav(src, out_dir(tmp_path), limits)
    assert len(split.pieces) > 2
    contiguous(split.pieces, 3000)
    joined = b""
    for piece in split.pieces:
        assert piece.path.stat().st_size < limits.audio_bytes
        with wave.open(str(piece.path)) as w:  # a valid WAV the standard library reads
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (
                channels,
                width,
                8000,
            )
            assert w.getnframes() == piece.end_offset - piece.start_offset
            joined += w.readframes(w.getnframes())
    with wave.open(io.BytesIO(data)) as w:
        assert joined == w.readframes(w.getnframes())  # nothing lost, nothing doubled


def test_other_audio_is_converted_to_wav_first(tmp_path: Path) -> None:
    src = tmp_path / "a.mp3"
    src.write_bytes(mp3_bytes(seconds=2.0))
    wav = to_wav(src, "MP3", tmp_path / "a.wav", Limits())
    split = split_wav(wav, out_dir(tmp_path), Limits(audio_bytes=30_000))
    assert len(split.pieces) >= 3
    total = sum((p.end_offset or 0) - (p.start_offset or 0) for p in split.pieces)
    assert abs(total / 22050 - 2.0) < 0.1


# -- text -----------------------------------------------------------------------------

TEXT = (
    "First paragraph, first sentence. Second sentence here!\n\n"
    "Another paragraph follows; it is longer than the others by some words. Then more.\n\n"
    "Short one.\n\nThe end of the text comes without a final full stop"
)


def test_text_chunks_cut_at_paragraphs_and_sentences_and_cover_everything(
    tmp_path: Path,
) -> None:
    src = tmp_path / "t.txt"
    src.write_text(TEXT * 20, encoding="utf-8")
    limits = Limits(text_bytes=10_000, text_chunk_chars=300)
    split = split_text(src, out_dir(tmp_path), limits)
    texts = [p.path.read_text(encoding="utf-8") for p in split.pieces]
    assert "".join(texts) == TEXT * 20  # no overlap asked: the chunks join back exactly
    for piece, text in zip(split.pieces, texts, strict=True):
        assert len(text) <= 300
        assert (TEXT * 20)[piece.start_offset : piece.end_offset] == text
    # Every cut but the last falls after a paragraph or a sentence.
    assert all(t.endswith(("\n\n", ". ", "! ")) for t in texts[:-1])


def test_text_overlap_and_multibyte_byte_limit() -> None:
    text = ("Ünïcödé wörds ärë hëävy. " * 40).strip()
    spans = list(iter_spans(io.StringIO(text), chunk_chars=200, overlap=30, max_bytes=150))
    assert spans[0].start == 0 and spans[-1].end == len(text)
    for a, b in zip(spans, spans[1:], strict=False):
        assert a.start < b.start <= a.end  # overlapping, always moving forward
        assert a.end - b.start <= 30
    assert all(len(s.text.encode()) < 150 for s in spans)


def test_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "t.txt"
    src.write_bytes(b"fine text " * 10 + b"\xff\xfe broken")
    with pytest.raises(InputError) as err:
        split_text(src, out_dir(tmp_path), Limits(text_bytes=50))
    assert err.value.code is StatusCode.INPUT_UNSUPPORTED_FORMAT and "byte 100" in err.value.message


# -- images ---------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_downscale_keeps_aspect_and_applies_orientation(tmp_path: Path, orientation: int) -> None:
    src = tmp_path / "i.jpg"
    src.write_bytes(gradient_image((300, 200), "JPEG", orientation))
    limits = Limits(image_pixels=20_000)
    [piece] = downscale_image(src, out_dir(tmp_path), limits).pieces
    assert piece.width * piece.height <= 20_000
    display = ImageOps.exif_transpose(Image.open(src))
    assert abs(piece.width / piece.height - display.width / display.height) < 0.02
    with Image.open(piece.path) as got:
        assert got.getexif().get(0x0112) in (None, 1)  # orientation applied, not repeated
        expected = display.convert("RGB").resize(got.size)
        for xy in [(2, 2), (got.width - 3, 2), (2, got.height - 3)]:
            assert max(abs(a - b) for a, b in zip(got.getpixel(xy), expected.getpixel(xy))) < 24


def test_an_image_over_the_byte_limit_is_downscaled_in_one_encode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the pixel limit but over the byte limit: the first try aims from the source's
    bytes per pixel, not at full size (each try decodes and encodes the whole image)."""
    import os

    import pyvips

    from pipeline.media.chunking import images

    src = tmp_path / "noise.png"
    noise = pyvips.Image.new_from_memory(os.urandom(600 * 600 * 3), 600, 600, 3, "uchar")
    noise.pngsave(str(src))
    limits = Limits(image_bytes=src.stat().st_size // 3)
    saves: list[int] = []
    real_save = images._save

    def counted(*args: object) -> int:
        saves.append(real_save(*args))  # type: ignore[arg-type]
        return saves[-1]

    monkeypatch.setattr(images, "_save", counted)
    [piece] = downscale_image(src, out_dir(tmp_path), limits).pieces
    assert saves == [piece.path.stat().st_size] and saves[0] < limits.image_bytes
    assert 0.5 < piece.width / 600 < 0.6  # sqrt(0.85 / 3) = 0.53


@pytest.mark.parametrize("orientation", range(1, 9))
def test_tiles_cover_the_image_with_overlap(tmp_path: Path, orientation: int) -> None:
    src = tmp_path / "i.png"
    src.write_bytes(gradient_image((300, 200), "PNG", orientation))
    limits = Limits(image_tile_size=128, image_tile_overlap=16)
    split = tile_image(src, out_dir(tmp_path), limits)
    display = ImageOps.exif_transpose(Image.open(src)).convert("RGB")
    assert (split.notes["width"], split.notes["height"]) == display.size
    covered = set()
    for piece in split.pieces:
        assert piece.box is not None
        with Image.open(piece.path) as tile:
            assert tile.size == (piece.width, piece.height) and max(tile.size) <= 128
            assert tile.convert("RGB").tobytes() == display.crop(piece.box).tobytes()
        left, top, right, bottom = piece.box
        covered |= {(x, y) for x in range(left, right, 4) for y in range(top, bottom, 4)}
    width, height = display.size
    assert covered == {(x, y) for x in range(0, width, 4) for y in range(0, height, 4)}
    assert tile_starts(300, 128, 16) == [0, 112, 172]


def test_regions_are_clipped_to_tiles_and_frames_move_to_their_chunk() -> None:
    tiles = [
        Piece(Path("a"), "PNG", "png", 0, box=(0, 0, 100, 100)),
        Piece(Path("b"), "PNG", "png", 1, box=(100, 0, 200, 100)),
    ]
    box = Region(
        region_info=RegionInfo(
            bounding_box=BoundingBox(top_row=0.2, left_col=0.25, bottom_row=0.6, right_col=0.75)
        )
    )
    point = Region(region_info=RegionInfo(point=Point(row=0.5, col=0.9)))
    tri = Region(
        region_info=RegionInfo(
            polygon=Polygon(
                points=[Point(row=0.1, col=0.4), Point(row=0.9, col=0.4), Point(row=0.5, col=0.6)]
            )
        )
    )
    anns = [
        Annotation(id="box", data=AnnotationData(regions=[box])),
        Annotation(id="pt", data=AnnotationData(regions=[point])),
        Annotation(id="tri", data=AnnotationData(regions=[tri])),
        Annotation(id="whole", data=AnnotationData(concepts=[Concept(id="cat")])),
    ]
    moved, dropped = move_annotations(anns, tiles, (200, 100))
    assert dropped == 0
    left = {k: a for k, a in moved[0]}
    right = {k: a for k, a in moved[1]}
    assert set(left) == {"box", "tri", "whole"} and set(right) == {"box", "pt", "tri", "whole"}
    lb = left["box"].data.regions[0].region_info.bounding_box
    rb = right["box"].data.regions[0].region_info.bounding_box
    assert (lb.left_col, lb.right_col, lb.top_row, lb.bottom_row) == (0.5, 1.0, 0.2, 0.6)
    assert (rb.left_col, rb.right_col) == (0.0, 0.5)
    pt = right["pt"].data.regions[0].region_info.point
    assert (pt.row, round(pt.col, 6)) == (0.5, 0.8)
    assert len(left["tri"].data.regions[0].region_info.polygon.points) >= 3
    assert clip_polygon([(0, 0), (10, 0), (10, 10)], (20, 20, 30, 30)) == []

    chunks = [
        Piece(Path("a"), "MP4", "mp4", 0, start_ms=0, end_ms=2000, first_frame=0),
        Piece(Path("b"), "MP4", "mp4", 1, start_ms=2000, end_ms=4000, first_frame=50),
    ]
    frame = Annotation(
        id="f", data=AnnotationData(frames=[Frame(frame_info=FrameInfo(index=60, time=2400))])
    )
    moved, _ = move_annotations([frame], chunks, None)
    assert moved[0] == []
    [(key, ann)] = moved[1]
    assert key == "f" and ann.data.frames[0].frame_info == FrameInfo(index=10, time=400)
