"""`ingestd import coco` and `ingestd import jsonl` end to end, and the COCO round trip."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from connectors.importers.coco import ANNOTATION_KEY
from connectors.importers.folder import input_id_for
from ingestd.app.runtime import Runtime
from tests.support.cli import run
from tests.support.coco import make_coco, write_json
from tests.support.storage import image_bytes, use_storage

pytestmark = [
    pytest.mark.parametrize("storage", ["sqlite-local", "postgres-s3"], indirect=True),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


@pytest.fixture
def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Runtime:
    monkeypatch.chdir(tmp_path)
    use_storage(monkeypatch, runtime.settings)
    return runtime


def stored(rt: Runtime, input_id: str) -> dict:
    row = rt.catalog.get_input(rt.settings.user_id, rt.settings.app_id, input_id)
    assert row is not None, input_id
    return row


def coco_id(images: Path, file_name: str) -> str:
    """The input id of a COCO image: as `import folder` of its images folder names it."""
    return input_id_for(images.resolve(), file_name)


def test_import_reports_bad_items_retries_them_and_reruns_write_nothing(
    cli: Runtime, tmp_path: Path
) -> None:
    doc = make_coco(tmp_path, 3)
    path = tmp_path / "annotations/instances.json"
    (tmp_path / "annotations/images/img1.png").rename(tmp_path / "img1.png")
    good_category = doc["annotations"][0]["category_id"]
    doc["annotations"][0]["category_id"] = 99
    doc["annotations"].append({"id": 5, "image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1]})
    write_json(path, doc)
    report = tmp_path / "failed.jsonl"
    imgs = tmp_path / "annotations/images"

    first = run("import", "coco", str(path), "--report", str(report), "--json", code=1)
    assert first["actions"] == {"created": 2, "failed": 3}
    codes = {f["item"]: f["code"] for f in first["failures"]}
    assert codes == {
        f"img0.png{ANNOTATION_KEY}1000": 24155, "img1.png": 30102, "annotation=5": 24155,
    }  # fmt: skip
    assert len(stored(cli, coco_id(imgs, "img0.png"))["annotations"]) == 4
    assert (
        stored(cli, coco_id(imgs, "img1.png"))["status_code"] == 30102
    )  # recorded as a failed input (listed by `inputs list --failed`), no media stored

    # fixed: the category is right again and the image is back; only the failures are redone
    (tmp_path / "img1.png").rename(tmp_path / "annotations/images/img1.png")
    doc["annotations"][0]["category_id"] = good_category
    write_json(path, doc)
    retry = run("import", "coco", str(path), "--retry-failed", str(report), "--json", code=1)
    # img1 was recorded as failed, so storing it now is an update; annotation=5 fails again
    assert retry["actions"] == {"updated": 2, "failed": 1}
    assert len(stored(cli, coco_id(imgs, "img0.png"))["annotations"]) == 5
    img1 = stored(cli, coco_id(imgs, "img1.png"))["annotations"]
    assert sorted(a["annotation_info"]["coco"]["annotation_id"] for a in img1) == [
        1010, 1011, 1012, 1013, 1014,
    ]  # fmt: skip

    doc["annotations"].pop()  # the orphan
    write_json(path, doc)
    again = run("import", "coco", str(path), "--json")
    assert again["actions"] == {"unchanged": 3}


def test_broken_json_imports_nothing(cli: Runtime, tmp_path: Path) -> None:
    make_coco(tmp_path, 2)
    path = tmp_path / "annotations/instances.json"
    path.write_text(path.read_text()[:-40])
    out = run("import", "coco", str(path), code=1)
    assert "39999" in out and "not valid JSON" in out and "nothing was imported" in out
    assert cli.catalog.input_counts(cli.settings.user_id, cli.settings.app_id)["processed"] == 0


def test_coco_round_trips_through_a_version_export(cli: Runtime, tmp_path: Path) -> None:
    doc = make_coco(tmp_path / "src", 4)
    archive = tmp_path / "coco.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "src/annotations/instances.json", "annotations/instances.json")
        for image in doc["images"]:
            zf.write(tmp_path / "src/annotations/images" / image["file_name"],
                     f"images/{image['file_name']}")  # fmt: skip
    done = run("import", "coco", str(archive), "--dataset", "ds", "--json")
    assert done["actions"] == {"created": 4}
    run("datasets", "versions", "create", "ds", "--id", "v1", "--json")
    target = tmp_path / "out.zip"
    exported = run("versions", "export", "v1", "--format", "coco", "-o", str(target), "--json")
    assert exported["status"]["code"] == 25170
    with zipfile.ZipFile(target) as zf:
        zf.extractall(tmp_path / "out")

    before = COCO(str(tmp_path / "src/annotations/instances.json"))
    after = COCO(str(tmp_path / "out/annotations/instances_default.json"))
    by_input = {img["ingestd_input_id"]: img for img in after.dataset["images"]}
    zip_root = Path(f"{archive.resolve()}:images/")  # a zip's images: named by zip and folder
    ids = {i["file_name"]: coco_id(zip_root, i["file_name"]) for i in before.dataset["images"]}
    assert sorted(by_input) == sorted(ids.values())
    names = {c["id"]: c["name"] for c in before.dataset["categories"]}
    for img in before.dataset["images"]:
        mine = by_input[ids[img["file_name"]]]
        assert (mine["width"], mine["height"]) == (img["width"], img["height"])
        old = sorted(
            (names[a["category_id"]], round(a["area"], 1), a["iscrowd"])
            for a in before.loadAnns(before.getAnnIds(imgIds=img["id"]))
        )
        new = sorted(
            (after.cats[a["category_id"]]["name"], round(a["area"], 1), a["iscrowd"])
            for a in after.loadAnns(after.getAnnIds(imgIds=mine["id"]))
        )
        assert new == old
        for ann in after.loadAnns(after.getAnnIds(imgIds=mine["id"])):
            assert after.annToMask(ann).shape == (img["height"], img["width"])


def test_jsonl_lines_fail_alone_with_their_line_number(cli: Runtime, tmp_path: Path) -> None:
    png = base64.b64encode(image_bytes("PNG")).decode()
    box = {"top_row": 0.1, "left_col": 0.2, "bottom_row": 0.5, "right_col": 0.6}
    region = {"region_info": {"bounding_box": box}, "data": {"concepts": [{"id": "cat"}]}}
    lines = [
        json.dumps({"id": "one", "data": {"image": {"base64": png}, "metadata": {"k": 1}},
                    "annotations": [{"data": {"regions": [region]}}]}),
        "{not json",
        json.dumps({"data": {"text": {"raw": "hello"}}}),
        "",
        json.dumps({"id": "bad", "data": {"image": {"base64": png}, "colour": "red"}}),
        json.dumps([1, 2]),
        json.dumps({"data": {"image": {"base64": png}},
                    "annotations": [{"data": {"regions": [{"region_info": {"bounding_box": {
                        **box, "top_row": 0.9}}}]}}]}),
    ]  # fmt: skip
    path = tmp_path / "inputs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out = run("import", "jsonl", str(path), "--dataset", "ds", "--metadata", '{"b": 2}', "--json",
              code=1)  # fmt: skip
    assert out["actions"] == {"created": 2, "failed": 4}
    failed = {f["item"]: (f["code"], f["message"]) for f in out["failures"]}
    assert sorted(failed) == [
        "inputs.jsonl:2",
        "inputs.jsonl:5",
        "inputs.jsonl:6",
        "inputs.jsonl:7",
    ]
    assert failed["inputs.jsonl:2"][0] == 39999 and "line 2" in failed["inputs.jsonl:2"][1]
    assert failed["inputs.jsonl:5"][0] == 30104 and "colour" in failed["inputs.jsonl:5"][1]
    # A box out of order parses, then fails the annotation rules at the ingest stage.
    assert failed["inputs.jsonl:7"][0] == 24155 and "top" in failed["inputs.jsonl:7"][1]
    one = stored(cli, "one")
    assert one["metadata"] == {"b": 2, "k": 1} and one["dataset_ids"] == ["ds"]
    assert one["annotations"][0]["data"]["regions"][0]["region_info"]["bounding_box"] == box
    again = run("import", "jsonl", str(path), "--dataset", "ds", "--metadata", '{"b": 2}',
                "--json", code=1)  # fmt: skip
    assert again["actions"] == {"unchanged": 2, "failed": 4}  # ids without an id: from content
