"""The demo's sample files: good ones, and bad ones with the status each should get."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from PIL import Image, ImageDraw

from ingestd.cli.demo import media as demo_media


def make_samples(root: Path) -> dict[str, str]:
    """Write the sample files; returns what each deliberate fault should produce."""
    folder = root / "samples"
    for label, color in (("cats", (200, 120, 40)), ("dogs", (60, 90, 200))):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for n in range(3):
            img = Image.new("RGB", (320, 240), color)
            ImageDraw.Draw(img).ellipse((40 + n * 30, 40, 200 + n * 30, 200), fill=(240, 240, 240))
            img.save(folder / label / f"{label}-{n}.{'jpg' if n % 2 == 0 else 'png'}")
    good = (folder / "cats" / "cats-0.jpg").read_bytes()
    (folder / "cats" / "broken.jpg").write_bytes(good[: len(good) // 3])  # truncated JPEG
    Image.new("1", (10_000, 9_000)).save(folder / "dogs" / "huge.png")  # 90 MP, a few KB
    demo_media.make_long_video(folder)  # 11 minutes: split by the media stage
    (folder / "notes").mkdir(exist_ok=True)
    (folder / "notes" / "readme.txt").write_text("Two cats and two dogs walk into a dataset.\n")
    (folder / "notes" / "report.pdf").write_bytes(b"%PDF-1.4\n% not an input type\n")

    rows = [
        {
            "input.id": "caption-1",
            "input.data.text.raw": "a cat sleeping on a keyboard",
            "input.data.concepts[0].id": "cat",
            "input.data.concepts[0].value": "1",
            "input.data.metadata": json.dumps({"lang": "en"}),
        },
        {
            "input.id": "caption-2",
            "input.data.text.raw": "a dog chasing its tail",
            "input.data.concepts[0].id": "dog",
            "input.data.concepts[0].value": "1",
            "input.data.metadata": "",
        },
        {
            "input.id": "caption-3",
            "input.data.text.raw": "metadata that is not JSON",
            "input.data.concepts[0].id": "",
            "input.data.concepts[0].value": "",
            "input.data.metadata": "{lang: en",
        },
        {
            "input.id": "bad/id",
            "input.data.text.raw": "an id with a slash",
            "input.data.concepts[0].id": "",
            "input.data.concepts[0].value": "",
            "input.data.metadata": "",
        },
    ]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    (root / "captions.csv").write_text(buf.getvalue(), encoding="utf-8")
    return {
        "cats/broken.jpg": "INPUT_FAILED",
        "notes/report.pdf": "INPUT_UNSUPPORTED_FORMAT",
        "captions.csv:4": "METADATA_PARSING_ISSUE",
        "captions.csv:5": "INPUT_INVALID_ARGUMENT",
    }
