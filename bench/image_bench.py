"""Checking and downscaling images in bounded memory, versus a plain Pillow loop.

    .venv/bin/python bench/image_bench.py [--count 1000] [--cache DIR]

Generates (once, cached) `count` mixed images (JPEG, PNG, WEBP; 1 to 80 MP, gradients)
plus near-limit ones (13000x13000 RGBA PNG, 16-bit PNG, palette PNG), then runs, each in
a fresh child process reporting its own peak RSS (VmHWM): ingestd's check of every image
(check_medium) and the media stage's downscale of those over the limits, and two Pillow
loops over the same files:
  pillow         the issue's baseline: open-verify, open-thumbnail to the pixel limit. Pillow's
                 verify() decodes no pixels (PNG: chunk CRCs; JPEG, WEBP: nothing) and the
                 thumbnail is a no-op under the limit, so it decodes only the near-limit files.
  pillow-decode  the same job as ingestd: every pixel decoded (JPEG in draft mode at 1/8, as
                 ingestd does), then the thumbnail.
All three run one image at a time on one thread: Pillow decodes on the calling thread, and
ingestd's child runs with VIPS_CONCURRENCY=1.
Goals: images per second >= 1.0 of the Pillow loop, ingestd's peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyvips  # noqa: E402

from tests.support.hostile_images import flat_png, palette_png  # noqa: E402

CHILD = """
import sys, tempfile, time, warnings
from pathlib import Path
files = [Path(p) for p in sys.argv[2:]]
start = time.perf_counter()
if sys.argv[1] == "pillow":
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = None
    warnings.simplefilter("ignore")
    for f in files:
        with Image.open(f) as img:
            img.verify()
        with Image.open(f) as img:
            img.thumbnail((9219, 9219))
elif sys.argv[1] == "pillow-decode":
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = None
    warnings.simplefilter("ignore")
    for f in files:
        with Image.open(f) as img:
            if img.format == "JPEG":
                img.draft(img.mode, (img.width // 8, img.height // 8))
            img.load()
        with Image.open(f) as img:
            img.thumbnail((9219, 9219))
else:
    from pipeline.errors import InputError
    from pipeline.ingest.checks import check_medium
    from pipeline.limits import Limits
    from pipeline.media.chunking.images import downscale_image
    from pipeline.models import MediaType
    limits = Limits()
    for f in files:
        got = check_medium(f, MediaType.IMAGE, limits)
        if got.oversized:
            with tempfile.TemporaryDirectory() as tmp:
                downscale_image(f, Path(tmp), limits)
seconds = time.perf_counter() - start
hwm = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
print(seconds, hwm)
"""


def make(cache: Path, count: int) -> list[Path]:
    rng = random.Random(7)
    files = []
    for i in range(count):
        fmt = ("jpg", "png", "webp")[i % 3]
        mp = rng.choice([1, 2, 4, 8, 12, 24, 40, 80]) if i % 10 == 0 else rng.randint(1, 8)
        side = int((mp * 1e6) ** 0.5)
        path = cache / f"{i:04d}-{mp}mp.{fmt}"
        if not path.exists():
            xy = pyvips.Image.xyz(side, side)
            img = ((xy[0] * 3 + xy[1]) % 256).bandjoin([xy[1] % 256, xy[0] % 199]).cast("uchar")
            img.copy(interpretation="srgb").write_to_file(str(path))
        files.append(path)
    for name, build in (
        ("near-rgba.png", lambda p: flat_png(p, 13000, 13000)),
        ("near-16bit.png", lambda p: flat_png(p, 13000, 13000, bands=3, sixteen=True)),
        ("near-palette.png", lambda p: palette_png(p, 13000, 13000)),
    ):
        if not (cache / name).exists():
            build(cache / name)
        files.append(cache / name)
    return files


def run(kind: str, files: list[Path]) -> tuple[float, float]:
    env = {"PYTHONPATH": str(ROOT), "VIPS_CONCURRENCY": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, *map(str, files)],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    seconds, peak = out.stdout.split()
    return float(seconds), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ingestd-img")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    files = make(args.cache, args.count)
    pillow_s, pillow_mb = run("pillow", files)
    decode_s, decode_mb = run("pillow-decode", files)
    ours_s, ours_mb = run("ingestd", files)
    n = len(files)
    result = {
        "images": n,
        "threads": 1,
        "pillow_images_per_s": round(n / pillow_s, 2),
        "pillow_decode_images_per_s": round(n / decode_s, 2),
        "ingestd_images_per_s": round(n / ours_s, 2),
        "ratio": round(pillow_s / ours_s, 2),
        "ratio_vs_pillow_decode": round(decode_s / ours_s, 2),
        "pillow_peak_mb": round(pillow_mb),
        "pillow_decode_peak_mb": round(decode_mb),
        "ingestd_peak_mb": round(ours_mb),
        "goals_met": pillow_s / ours_s >= 1.0 and ours_mb < 300,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    from report import peak_memory_line

    main()
    print(peak_memory_line())
