"""Large local files travel to the ingest stage as blobs, uploaded from their open descriptor
(local directory and S3, SQLite and PostgreSQL), and are stored exactly as read."""

from __future__ import annotations

import hashlib
from pathlib import Path

from connectors.importers.csv_rows import iter_csv_items
from connectors.importers.folder import iter_folder_items
from connectors.importers.runner import ImportOptions, ImportRun
from connectors.importers.staging import FileStager
from ingestd.app.runtime import Runtime
from tests.support.media import video_bytes
from tests.support.storage import image_bytes


def media_of(item) -> object:
    data = item.input.data
    return next(m for m in (data.image, data.video, data.audio, data.text) if m is not None)


def test_large_files_travel_as_blobs_and_are_stored_whole(
    runtime: Runtime, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    files = {
        "clip.mp4": video_bytes(seconds=1.0, size="64x48"),
        "a.png": image_bytes("PNG"),
        "notes.txt": b"good dogs\n",
    }
    for name, raw in files.items():
        (folder / name).write_bytes(raw)
    (folder / "rows.csv").write_text("inputid,input\nfrom-csv,a.png\n")
    stager = FileStager(runtime.blobs, "me", "main", threshold=1)  # every file staged
    items = [
        *iter_folder_items(folder, stager=stager, keys=set(files)),
        *iter_csv_items(folder / "rows.csv", stager=stager),
    ]
    assert all(media_of(it).blob_key and not media_of(it).base64 for it in items)
    assert sum(it.size for it in items) == sum(map(len, files.values())) + len(files["a.png"])

    options = ImportOptions(limits=runtime.settings.limits, poll_interval=0.05)
    summary = ImportRun(runtime.submit, runtime.catalog, options).run(items, timeout=60)
    assert summary.actions == {"created": 4}, summary.failures
    for name, raw in files.items():
        row = runtime.catalog.get_input("me", "main", next(
            it.input.id for it in items if it.key == name
        ))  # fmt: skip
        assert row is not None and row["sha256"] == hashlib.sha256(raw).hexdigest()
        assert runtime.blobs.get(row["blob_key"]) == raw


def test_small_files_still_travel_inline(embedded: Runtime, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(image_bytes("PNG"))
    stager = FileStager(embedded.blobs, "me", "main")
    (item,) = iter_folder_items(tmp_path / "in", stager=stager)
    assert media_of(item).base64 == image_bytes("PNG")
    assert list(embedded.blobs.keys()) == []
