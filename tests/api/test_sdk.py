"""The unmodified official SDK (`clarifai`, pinned in the test extra) against `ingestd serve`."""

from __future__ import annotations

import io
from pathlib import Path

from clarifai.client.dataset import Dataset
from clarifai.client.input import Inputs
from PIL import Image

from pipeline.status import StatusCode
from tests.api.conftest import Server


def _labelled_folder(root: Path, label: str, count: int, shade: int) -> Path:
    folder = root / label
    folder.mkdir(parents=True)
    for n in range(count):
        buf = io.BytesIO()
        Image.new("RGB", (16 + n, 12), (shade, n * 7 % 256, 90)).save(buf, "PNG")
        (folder / f"{label}_{n:03d}.png").write_bytes(buf.getvalue())
    return folder


def test_upload_from_folder_list_and_delete(api: Server, tmp_path: Path) -> None:
    cats = _labelled_folder(tmp_path / "images", "cat", 20, 10)
    dogs = _labelled_folder(tmp_path / "images", "dog", 17, 200)
    dataset = Dataset(
        user_id="me", app_id="main", dataset_id="pets", base_url=api.grpc_base, pat=api.secret
    )
    dataset.upload_from_folder(folder_path=str(cats), input_type="image", labels=True)
    dataset.upload_from_folder(folder_path=str(dogs), input_type="image", labels=True)

    catalog = api.served.runtime.catalog
    rows = list(catalog.iter_inputs("me", "main"))
    assert len(rows) == 37  # every input stored exactly once
    assert {r["status_code"] for r in rows} == {StatusCode.INPUT_SUCCESS}
    labels = {r["id"]: [c["id"] for c in r["concepts"]] for r in rows}
    assert labels["cat_000"] == ["cat"] and labels["dog_016"] == ["dog"]
    assert sum(1 for ids in labels.values() if ids == ["cat"]) == 20
    assert len(catalog.list_inputs("me", "main", dataset_id="pets", limit=100)) == 37

    sdk_inputs = Inputs(user_id="me", app_id="main", base_url=api.grpc_base, pat=api.secret)
    listed = list(sdk_inputs.list_inputs())
    assert sorted(i.id for i in listed) == sorted(labels)
    assert {c.id for i in listed for c in i.data.concepts} == {"cat", "dog"}
    in_dataset = list(sdk_inputs.list_inputs(dataset_id="pets", per_page=10, page_no=2))
    assert len(in_dataset) == 10

    sdk_inputs.delete_inputs([i for i in listed if i.id.startswith("dog")])
    left = list(catalog.iter_inputs("me", "main"))
    assert len(left) == 20 and all(r["id"].startswith("cat") for r in left)
