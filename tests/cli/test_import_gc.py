"""An import runs with the objects made before it frozen out of the collector's full passes,
and leaves the collector as it found it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from ingestd.app.runtime import Runtime
from pipeline.events import UploadRequest
from tests.support.cli import run
from tests.support.storage import image_bytes, use_storage


@pytest.mark.parametrize("storage", ["sqlite-local"], indirect=True)
def test_startup_objects_are_frozen_during_an_import_only(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_storage(monkeypatch, runtime.settings)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "images"
    folder.mkdir()
    for n in range(3):
        (folder / f"{n}.png").write_bytes(image_bytes("PNG", color=("red", "green", "blue")[n]))
    frozen: list[int] = []
    submit = Runtime.submit

    def watched(rt: Runtime, request: UploadRequest) -> None:
        frozen.append(gc.get_freeze_count())
        submit(rt, request)

    monkeypatch.setattr(Runtime, "submit", watched)
    before = gc.get_freeze_count()
    assert run("import", "folder", str(folder), "--json")["actions"] == {"created": 3}
    assert frozen and all(n > before for n in frozen)
    assert gc.get_freeze_count() == before
