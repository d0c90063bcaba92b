"""Hostile images are checked, downscaled and tiled in bounded memory, or refused plainly.

Each case runs in a fresh interpreter that reports its own peak resident memory (VmHWM); the
files are flat images that compress to under 1 MB but decode to hundreds of MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pyvips

from tests.support.hostile_images import (
    apng_frames,
    bmp_header_only,
    flat_file,
    flat_png,
    gif_big_frame,
    gif_frames,
    gif_screen,
    palette_png,
    png_inflate_bomb,
    progressive_jpeg,
    tiff_pages,
    webp_frames,
)

CEILING_MB = 300
ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys, tempfile
from pathlib import Path
from pipeline.errors import InputError
from pipeline.ingest.checks import check_medium
from pipeline.limits import Limits
from pipeline.media.chunking.images import downscale_image, tile_image
from pipeline.models import MediaType
what, src = sys.argv[1], Path(sys.argv[2])
out = {}
try:
    with tempfile.TemporaryDirectory() as tmp:
        chunks = Path(tmp) / "chunks"
        chunks.mkdir()
        if what == "check":
            got = check_medium(src.read_bytes(), MediaType.IMAGE, Limits())
            out = {"size": [got.width, got.height], "oversized": got.oversized}
        else:
            split = (tile_image if what == "tile" else downscale_image)(src, chunks, Limits())
            out = {"pieces": [[p.width, p.height] for p in split.pieces]}
except InputError as exc:
    out = {"code": int(exc.code), "message": exc.message}
# VmHWM: this interpreter's own peak (ru_maxrss would carry the parent's over exec)
status = Path("/proc/self/status").read_text()
out["peak_mb"] = int(status.split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps(out))
"""


def run_case(what: str, src: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, what, str(src)],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )  # fmt: skip
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["peak_mb"] < CEILING_MB, result
    return result


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    flat_png(d / "rgba13k.png", 13000, 13000)
    flat_png(d / "rgba9k.png", 9000, 9000)
    flat_png(d / "rgb16.png", 13000, 13000, bands=3, sixteen=True)
    palette_png(d / "palette.png", 13000, 13000)
    flat_file(d / "rgb9k.webp", 9000, 9000, "webp")
    flat_file(d / "rgb13k.tif", 13000, 13000, "tif")
    (d / "screen.gif").write_bytes(gif_screen(12000, 12000))
    data = (d / "rgba13k.png").read_bytes()
    (d / "truncated.png").write_bytes(data[: len(data) // 2])
    return d


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files of many frames or pages, and headers that lie about the data after them."""
    d = tmp_path_factory.mktemp("frames")
    (d / "frames.gif").write_bytes(gif_frames(64, 64, 5000))
    (d / "screens.gif").write_bytes(gif_frames(9000, 9000, 3000))
    (d / "big-screens.gif").write_bytes(gif_frames(12000, 12000, 3000))
    (d / "frame-past-screen.gif").write_bytes(gif_big_frame(10, 9000, 9000))
    (d / "frames.webp").write_bytes(webp_frames(64, 64, 5000))
    (d / "canvas.webp").write_bytes(webp_frames(9000, 9000, 2000))
    (d / "big-canvas.webp").write_bytes(webp_frames(12000, 12000, 2000))
    (d / "too-many.webp").write_bytes(webp_frames(16, 16, 20_000))
    apng_frames(d / "frames.png", 16, 3000)
    tiff_pages(d / "pages.tif", [(16, 16)] * 3000)
    tiff_pages(d / "too-many.tif", [(4, 4)] * 20_000)
    tiff_pages(d / "big-second.tif", [(16, 16), (13000, 13000)], rows_per_strip=40)
    tiff_pages(d / "one-strip16.tif", [(9000, 9000)], rows_per_strip=0, bits=16)
    png_inflate_bomb(d / "inflates.png", 100, 100, 1 << 30)
    progressive_jpeg(d / "progressive.jpg", 9000, 9000)
    (d / "no-data.bmp").write_bytes(bmp_header_only(5000, 5000))
    return d


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("frames.gif", [64, 64]),  # 5000 frames: the first is decoded, the rest never read
        ("screens.gif", [9000, 9000]),  # 3000 frames, each on an 81 MP screen
        ("frames.webp", [64, 64]),
        ("frames.png", [16, 16]),  # APNG: its default image
        ("pages.tif", [16, 16]),
        ("one-strip16.tif", [9000, 9000]),  # 16-bit, 486 MB in one deflate strip
        ("inflates.png", [100, 100]),  # header says 100x100, data inflates to 1 GB
    ],
)
def test_many_frames_or_lying_data_are_checked_on_the_first_frame_in_bounded_memory(
    many: Path, name: str, size: list[int]
) -> None:
    got = run_case("check", many / name)
    assert got.get("size") == size and got["oversized"] is None, got


@pytest.mark.parametrize(
    ("what", "name", "words"),
    [
        ("check", "canvas.webp", "animated WEBP image of 81.0 megapixels"),
        ("downscale", "big-canvas.webp", "animated WEBP image of 144.0 megapixels"),
        ("check", "too-many.webp", "more than 10000 frames"),
        ("check", "too-many.tif", "more than 10000 pages"),
        ("check", "progressive.jpg", "progressive JPEG image of 81.0 megapixels"),
        ("downscale", "big-screens.gif", "GIF image of 144.0 megapixels"),
    ],
)
def test_frames_or_pixels_no_decoder_bounds_are_refused_in_bounded_memory(
    many: Path, what: str, name: str, words: str
) -> None:
    got = run_case(what, many / name)
    assert got.get("code") == 30105 and words in got["message"], got


def test_a_tiff_page_far_bigger_than_the_first_is_never_decoded(many: Path) -> None:
    assert run_case("downscale", many / "big-second.tif")["pieces"] == [[16, 16]]


@pytest.mark.parametrize("name", ["frame-past-screen.gif", "no-data.bmp"])
def test_a_header_promising_pixels_the_file_lacks_fails_in_bounded_memory(
    many: Path, name: str
) -> None:
    got = run_case("check", many / name)
    assert got.get("code") == 30002 and "could not be decoded" in got["message"], got


@pytest.mark.parametrize("name", ["rgba9k.png", "rgb9k.webp"])
def test_an_image_just_under_the_pixel_limit_is_checked_in_bounded_memory(
    files: Path, name: str
) -> None:
    got = run_case("check", files / name)
    assert got["size"] == [9000, 9000] and got["oversized"] is None


@pytest.mark.parametrize("name", ["rgba13k.png", "rgb16.png", "palette.png", "rgb13k.tif"])
def test_a_near_limit_image_is_downscaled_in_bounded_memory(files: Path, name: str) -> None:
    [(width, height)] = run_case("downscale", files / name)["pieces"]
    assert width == height and 85_000_000 - 2 * width <= width * height <= 85_000_000


def test_a_near_limit_image_is_tiled_in_bounded_memory(files: Path) -> None:
    pieces = run_case("tile", files / "rgba13k.png")["pieces"]
    assert len(pieces) == 49 and max(max(p) for p in pieces) == 2048


def test_a_35_byte_gif_with_a_huge_screen_is_refused_in_bounded_memory(files: Path) -> None:
    got = run_case("downscale", files / "screen.gif")
    assert got["code"] == 30105
    assert "GIF" in got["message"] and "convert it to PNG" in got["message"]


def test_a_truncated_near_limit_png_fails_in_bounded_memory(files: Path) -> None:
    got = run_case("downscale", files / "truncated.png")
    assert got["code"] == 30002 and "could not be decoded" in got["message"]


@pytest.mark.parametrize("fmt", ["png", "webp"])
@pytest.mark.parametrize("as_path", [False, True])
def test_a_truncated_image_within_the_limits_fails_its_check(
    tmp_path: Path, fmt: str, as_path: bool
) -> None:
    from pipeline.errors import InputError
    from pipeline.ingest.checks import check_medium
    from pipeline.limits import Limits
    from pipeline.models import MediaType

    whole = tmp_path / f"whole.{fmt}"
    img = pyvips.Image.xyz(600, 400)
    img = ((img[0] * 7 + img[1] * 3) % 256).bandjoin([img[1] % 256, img[0] % 13]).cast("uchar")
    img.copy(interpretation="srgb").write_to_file(str(whole))
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError) as caught:
        check_medium(cut if as_path else cut.read_bytes(), MediaType.IMAGE, Limits())
    assert caught.value.code == 30002
