"""`ingestd demo`: sample data with deliberate faults, imported on the embedded default.

It writes sample files under the demo directory, imports the folder (with labels) and a
CSV into the dataset `demo`, and shows what was stored and what was refused and why.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from connectors.importers.csv_rows import iter_csv_items
from connectors.importers.folder import iter_folder_items
from connectors.importers.runner import ImportOptions, ImportRun, ImportSummary
from ingestd import demo_collectors, demo_media
from ingestd.cli_import import print_summary
from ingestd.output import console, emit_json, table
from ingestd.state import open_runtime

DATASET = "demo"


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


def run_demo(workdir: str, as_json: bool = False) -> bool:
    """Run the demo; True when every good file was stored and every bad one refused as expected."""
    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    expected = make_samples(root)
    summaries: list[ImportSummary] = []
    with open_runtime() as rt:
        s = rt.settings
        options: dict[str, Any] = {
            "user_id": s.user_id,
            "app_id": s.app_id,
            "dataset_ids": [DATASET],
            "limits": s.limits,
        }
        folder_items = iter_folder_items(root / "samples", labels=True, metadata={"demo": True})
        summaries.append(
            ImportRun(rt.submit, rt.catalog, ImportOptions(source="folder", **options)).run(
                folder_items
            )
        )
        csv_items = iter_csv_items(root / "captions.csv", metadata={"demo": True})
        summaries.append(
            ImportRun(rt.submit, rt.catalog, ImportOptions(source="csv", **options)).run(csv_items)
        )
        media = demo_media.collect(rt)  # the oversized video and image, split
        stored = rt.catalog.list_inputs(s.user_id, s.app_id, dataset_id=DATASET, limit=1000)
        counts = rt.catalog.input_counts(s.user_id, s.app_id)
        where = f"{rt.blobs.describe()} and {rt.catalog.describe()}"
    scene = demo_collectors.run_scene(s, root / "samples")  # collectors.md's example

    refused = {f["item"]: f["status"] for s_ in summaries for f in s_.failures}
    surprises = {k: (v, refused.get(k)) for k, v in expected.items() if refused.get(k) != v}
    unexpected = sorted(set(refused) - set(expected))
    chunk_total = sum(demo_media.EXPECTED_CHUNKS.values())  # chunks join the dataset
    ok = not surprises and not unexpected and len(stored) == 9 + chunk_total and media.as_expected
    ok = ok and scene.as_expected
    if as_json:
        emit_json(
            {
                "imports": [x.to_dict() for x in summaries],
                "dataset": DATASET,
                "stored": [
                    {
                        "id": r["id"],
                        "type": r["media_type"],
                        "concepts": [c["id"] for c in r["concepts"]],
                    }
                    for r in stored
                ],
                "input_counts": counts,
                "oversized": media.to_dict(),
                "collector": scene.to_dict(),
                "as_expected": ok,
            }
        )
        return ok
    for summary in summaries:
        print_summary(summary)
        console.print()
    table(
        f"stored in dataset {DATASET!r} ({where})",
        ["input id", "type", "format", "concepts", "size"],
        [
            (
                r["id"],
                r["media_type"],
                r["format"],
                ",".join(c["id"] for c in r["concepts"]),
                r["size"],
            )
            for r in stored
        ],
    )
    demo_media.print_chunks(media)
    demo_collectors.print_scene(scene)
    console.print(f"input counts: {counts}")
    if ok:
        console.print(
            "[green]demo as expected:[/] good files stored, every bad one refused with its code."
        )
        console.print("Run it again: nothing new is written (every input comes back 'unchanged').")
    else:
        console.print(
            f"[red]demo surprised us:[/] expected-but-different {surprises}, "
            f"unexpected {unexpected}"
        )
    return ok
