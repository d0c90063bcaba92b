"""Exports (COCO through pycocotools, JSON), version diffs and the versions chart."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from ingestd.app.runtime import Runtime
from ingestd.cli.versions.chart import plot_versions
from pipeline.events import AnnotationFilter, UploadRequest
from pipeline.ingest.ports import UploadCommit
from pipeline.models import Annotation, AnnotationData, Concept, Data, Input, Media
from pipeline.records import AnnotationRecord
from pipeline.snapshot.diff import diff_manifests
from pipeline.snapshot.ports import VersionRow
from pipeline.status import StatusCode
from tests.support.snapshots import DATASET, MASK_BOX, seed, snapshot

# pycocotools' own use of numpy 2 warns; nothing of ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def open_zip(rt: Runtime, info: dict) -> zipfile.ZipFile:
    assert info["status"]["code"] == StatusCode.DATA_DUMP_EXPORT_SUCCESS, info
    data = rt.blobs.get(info["url"])
    assert len(data) == info["size"]
    return zipfile.ZipFile(io.BytesIO(data))


def test_coco_export_loads_in_pycocotools(runtime: Runtime, tmp_path: Path) -> None:
    seed(runtime)
    v = snapshot(runtime, "v1", export_formats=["coco"]).version
    zf = open_zip(runtime, v.export_info["COCO"])
    zf.extractall(tmp_path)
    coco = COCO(str(tmp_path / "annotations/instances_default.json"))

    images = {img["ingestd_input_id"]: img for img in coco.loadImgs(coco.getImgIds())}
    assert sorted(images) == ["img-a", "img-b", "img-c", "img-d"]  # the text input is not
    for img in images.values():
        assert (tmp_path / img["file_name"]).is_file()
        with Image.open(tmp_path / img["file_name"]) as pic:
            assert pic.size == (img["width"], img["height"])
    names = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    assert sorted(names) == ["animal", "cat", "dog"]

    # Every annotation goes through the calls evaluation tools make on each one.
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.loadImgs(ann["image_id"])[0]
        mask = coco.annToMask(ann)
        assert mask.shape == (img["height"], img["width"]) and mask.sum() > 0, ann
        assert mask_utils.area(coco.annToRLE(ann)) == mask.sum()

    a = images["img-a"]  # 64 x 48: box from (0.5, 0.25) to (1.0, 0.75); triangle
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[a["id"]]))
    boxes = [x for x in anns if len(x["segmentation"][0]) == 8]
    assert [x["bbox"] for x in boxes] == [[32.0, 12.0, 32.0, 24.0]]
    assert boxes[0]["segmentation"] == [[32.0, 12.0, 64.0, 12.0, 64.0, 36.0, 32.0, 36.0]]
    box_mask = coco.annToMask(boxes[0])
    assert box_mask[12:36, 32:64].all() and box_mask.sum() == pytest.approx(32 * 24, rel=0.1)
    polygons = [x for x in anns if x not in boxes]
    assert sorted(coco.loadCats(x["category_id"])[0]["name"] for x in polygons) == [
        "animal",
        "cat",
    ]
    assert polygons[0]["area"] == pytest.approx(32 * 24 / 2)
    assert 0 < coco.annToMask(polygons[0]).sum() <= 32 * 24

    b = images["img-b"]  # the mask region; the point has no COCO form
    (mask_ann,) = coco.loadAnns(coco.getAnnIds(imgIds=[b["id"]]))
    mask = coco.annToMask(mask_ann)
    x0, y0, x1, y1 = MASK_BOX
    assert mask.sum() == mask_ann["area"] == (x1 - x0) * (y1 - y0)
    assert mask[y0:y1, x0:x1].all()
    assert mask_ann["bbox"] == [x0, y0, x1 - x0, y1 - y0]
    assert mask_ann["category_id"] == names["dog"]
    skipped = v.export_info["COCO"]["skipped"]
    assert skipped["points and other shapes without a COCO form"] == 1
    assert skipped["inputs that are not images"] == 1


@pytest.mark.parametrize("storage", ["sqlite-s3", "postgres-local"], indirect=True)
def test_json_export_and_exports_are_reproducible(runtime: Runtime) -> None:
    seed(runtime)
    v1 = snapshot(runtime, "v1", export_formats=["json", "coco"]).version
    v2 = snapshot(runtime, "v2", export_formats=["json"]).version
    zf = open_zip(runtime, v1.export_info["CLARIFAI_DATA_JSON"])
    doc = json.loads(zf.read("dataset.json"))
    assert doc["dataset_version"]["id"] == "v1"
    assert doc["dataset_version"]["metrics"] == v1.metrics
    assert [x["id"] for x in doc["inputs"]] == ["img-a", "img-b", "img-c", "img-d", "txt-e"]
    for item in doc["inputs"]:
        assert zf.read(item["file"])  # every medium is in the zip
    assert doc["inputs"][4]["file"] == "media/txt-e.txt"
    assert zf.read("media/txt-e.txt") == b"a note about pets"
    # Same content, same export bytes (fixed zip timestamps), apart from the version header.
    z2 = open_zip(runtime, v2.export_info["CLARIFAI_DATA_JSON"])
    assert json.loads(z2.read("dataset.json"))["inputs"] == doc["inputs"]
    assert zf.read("media/img-a.jpg") == z2.read("media/img-a.jpg")


def test_diff_reports_inputs_added_removed_and_annotations_changed(
    runtime: Runtime, tmp_path: Path
) -> None:
    seed(runtime)
    old = snapshot(runtime, "old").version
    s = runtime.settings
    # Added: a new input. Changed: img-d gets one more annotation, img-a one modified.
    extra = Input(id="img-z", data=Data(image=Media(base64=b"GIF89a" + b"\x00" * 10)))
    new_ann = Annotation(user_id="carol", data=AnnotationData(concepts=[Concept(id="toy")]))
    runtime.ingest.handle(UploadRequest(inputs=[extra], dataset_ids=[DATASET]))
    good = Input(
        id="img-y",
        data=Data(
            image=Media(base64=runtime.blobs.get(_line(runtime, old, "img-c")["data"]["blob_key"]))
        ),
    )
    assert not runtime.ingest.handle(UploadRequest(inputs=[good], dataset_ids=[DATASET])).failed
    first_a = _line(runtime, old, "img-a")["annotations"][0]
    runtime.catalog.commit_upload(
        UploadCommit(
            s.user_id,
            s.app_id,
            "patch-1",
            [],
            [
                AnnotationRecord(
                    id="carol-1",
                    user_id=s.user_id,
                    app_id=s.app_id,
                    input_id="img-d",
                    annotation_user_id="carol",
                    status="ANNOTATION_SUCCESS",
                    data=new_ann.data.model_dump(mode="json", exclude_defaults=True),
                ),
                AnnotationRecord(
                    id=first_a["id"],
                    user_id=s.user_id,
                    app_id=s.app_id,
                    input_id="img-a",
                    annotation_user_id=first_a["user_id"],
                    status="ANNOTATION_SUCCESS",
                    data={"concepts": [{"id": "changed"}]},
                    model_version_id=first_a.get("model_version_id"),
                ),
            ],
            [],
        )
    )
    # Removed: txt-e leaves the dataset.
    from connectors.catalog import schema as t

    with runtime.catalog.begin() as conn:
        m = t.dataset_inputs.c
        conn.execute(t.dataset_inputs.delete().where(m.input_id == "txt-e"))
    new = snapshot(runtime, "new").version
    pa, pb = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    runtime.blobs.download(old.manifest_key or "", pa)
    runtime.blobs.download(new.manifest_key or "", pb)
    d = diff_manifests(pa, pb)
    assert (d.inputs_added, d.inputs_removed) == (1, 1)
    assert d.samples["inputs_added"] == ["img-y"]  # img-z was refused (not an image)
    assert d.samples["inputs_removed"] == ["txt-e"]
    assert (d.annotations_added, d.annotations_modified, d.annotations_removed) == (1, 1, 0)
    assert d.samples["inputs_annotations_changed"] == ["img-a", "img-d"]
    assert d.inputs_unchanged == 2 and not d.identical
    assert diff_manifests(pa, pa).identical


def _line(rt: Runtime, v: VersionRow, input_id: str) -> dict:
    raw = rt.blobs.get(v.manifest_key or "")
    return next(x for x in map(json.loads, raw.splitlines()) if x["id"] == input_id)


@pytest.mark.parametrize("storage", ["sqlite-local"], indirect=True)
def test_plot_draws_the_versions_chart(runtime: Runtime, tmp_path: Path) -> None:
    seed(runtime)
    versions = [
        snapshot(runtime, "all").version,
        snapshot(runtime, "alice", annotation_filter=AnnotationFilter(user_ids=["alice"])).version,
        snapshot(runtime, "bob", annotation_filter=AnnotationFilter(user_ids=["bob"])).version,
    ]
    out = plot_versions(DATASET, versions, tmp_path / "chart.png")
    with Image.open(out) as png:
        assert png.format == "PNG"
        assert png.size[0] >= 700 and png.size[1] >= 800
        colors = png.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colors is not None and len(colors) > 10  # bars, text and legend were drawn
