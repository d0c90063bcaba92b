"""The demo run: sample data with deliberate faults, imported on the embedded default.

It writes sample files under the demo directory, imports the folder (with labels) and a
CSV into the dataset `demo`, and shows what was stored and what was refused and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.importers.csv_rows import iter_csv_items
from connectors.importers.folder import iter_folder_items
from connectors.importers.runner import ImportOptions, ImportRun, ImportSummary
from ingestd.cli.demo import collectors as demo_collectors
from ingestd.cli.demo import media as demo_media
from ingestd.cli.demo.samples import make_samples
from ingestd.cli.imports.common import print_summary
from ingestd.cli.options import console, emit_json, table
from ingestd.cli.state import open_runtime

DATASET = "demo"


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
        media = demo_media.collect(rt, root / "samples")  # the oversized video and image, split
        stored = rt.catalog.list_inputs(s.user_id, s.app_id, dataset_id=DATASET, limit=1000)
        where = f"{rt.blobs.describe()} and {rt.catalog.describe()}"
    scene = demo_collectors.run_scene(s, root / "samples")  # collectors.md's example
    with open_runtime() as rt:  # counted after the scene: its captures are inputs too
        counts = rt.catalog.input_counts(s.user_id, s.app_id)

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
