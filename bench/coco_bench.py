"""`ingestd import coco` of 5,000 images with 50,000 boxes vs `ingestd import folder` of them.

    .venv/bin/python bench/coco_bench.py [--images 5000] [--boxes 50000] [--rounds 2]

Both commands run as their own processes (`python -m ingestd.cli`) on the embedded default
(SQLite, local blobs), each round into a fresh catalog and blob directory, on the same
folder of 640x480 JPEGs of ~110 KB (COCO's usual size). The COCO import additionally
streams and indexes the instances JSON and turns every box into an annotation. Rounds
alternate folder / coco so drift on a shared machine hits both; the best round of each is
compared. Prints images/s of both, the ratio (goal: coco >= 0.7 of folder) and the peak
RSS of each process (ru_maxrss).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import options, rate_line  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
W, H = 640, 480  # COCO's most common size


def make_dataset(root: Path, images: int, boxes: int) -> Path:
    """root/images/*.jpg (~110 KB each, COCO's are ~160 KB) and root/instances.json."""
    folder = root / "images"
    folder.mkdir(parents=True)
    rng = random.Random(7)
    base = Image.linear_gradient("L").resize((W, H)).convert("RGB")
    for n in range(images):  # each different: media are content-addressed
        noise = Image.frombytes("RGB", (W, H), rng.randbytes(W * H * 3))
        Image.blend(base, noise, 0.25).save(folder / f"img{n:05d}.jpg", "JPEG", quality=85)
    anns = []
    for a in range(boxes):
        x, y = rng.uniform(0, W - 40), rng.uniform(0, H - 40)
        w, h = rng.uniform(4, 40), rng.uniform(4, 40)
        anns.append(
            {"id": a + 1, "image_id": a % images + 1, "category_id": a % 10 + 1,
             "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0, "segmentation": []}
        )  # fmt: skip
    doc = {
        "images": [
            {"id": n + 1, "file_name": f"img{n:05d}.jpg", "width": W, "height": H}
            for n in range(images)
        ],
        "annotations": anns,
        "categories": [{"id": c, "name": f"class{c}"} for c in range(1, 11)],
    }
    path = root / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def run_import(args: list[str], store: Path) -> tuple[float, int, dict[str, object]]:
    """(seconds, peak RSS in KB, summary) of one `ingestd import ...` in its own process."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "INGESTD_CATALOG": f"sqlite:///{store}/catalog.db",
        "INGESTD_BLOBS": f"file://{store}/blobs",
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingestd.cli", "import", *args, "--json"],
        cwd=store,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"import {args[0]} failed: {out[-2000:]!r}")
    return seconds, usage.ru_maxrss, json.loads(out)


def main() -> None:
    opts = options(__doc__ or "", images=5000, boxes=50000, rounds=2)
    with tempfile.TemporaryDirectory(prefix="coco-bench-") as tmp:
        root = Path(tmp)
        t0 = time.monotonic()
        path = make_dataset(root / "data", opts.images, opts.boxes)
        size_mb = path.stat().st_size / 2**20
        print(f"{opts.images} images, {opts.boxes} boxes ({size_mb:.1f} MB of JSON) made in "
              f"{time.monotonic() - t0:.0f}s")  # fmt: skip
        times: dict[str, list[float]] = {"folder": [], "coco": []}
        peaks: dict[str, int] = {"folder": 0, "coco": 0}
        for n in range(opts.rounds):
            for kind in ("folder", "coco"):
                store = root / f"{kind}-{n}"
                store.mkdir()
                source = root / "data" / "images" if kind == "folder" else path
                seconds, peak, summary = run_import([kind, str(source)], store)
                assert summary["actions"] == {"created": opts.images}, summary
                times[kind].append(seconds)
                peaks[kind] = max(peaks[kind], peak)
        for kind in ("folder", "coco"):
            print(rate_line(f"import {kind:6}", opts.images, "images", times[kind]) +
                  f"  peak RSS {peaks[kind] / 1024:.0f} MB")  # fmt: skip
        ratio = min(times["folder"]) / min(times["coco"])
        print(f"ratio coco/folder: {ratio:.2f} (goal >= 0.7)")


if __name__ == "__main__":
    main()
