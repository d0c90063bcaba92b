"""The COCO lister on generated datasets: every shape, every bad input, zips, order."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from connectors.importers.coco import ANNOTATION_KEY, iter_coco_items, open_coco
from connectors.importers.coco_index import CocoFileError
from connectors.importers.coco_shapes import rle_string_counts
from connectors.importers.dropzone_config import ArchiveLimits
from connectors.importers.folder import input_id_for
from connectors.importers.items import ImportItem
from connectors.importers.runner import ImportOptions, ImportRun
from ingestd.app.runtime import Runtime
from pipeline.annotation_changes import annotation_record
from pipeline.errors import InputError
from pipeline.ids import derived_id, fingerprint
from pipeline.models import Annotation
from pipeline.status import StatusCode
from tests.support.coco import H, W, make_coco, write_json


def items_of(path: Path, work: Path, images: Path | None = None, **kw) -> dict[str, ImportItem]:
    work.mkdir(exist_ok=True)
    source = open_coco(path, images, work, ArchiveLimits())
    try:
        return {it.key: it for it in iter_coco_items(source, **kw)}
    finally:
        source.close()


@pytest.mark.parametrize("annotations_first", [True, False])
def test_every_shape_becomes_a_region(tmp_path: Path, annotations_first: bool) -> None:
    make_coco(tmp_path, 2, annotations_first=annotations_first)
    items = items_of(tmp_path / "annotations/instances.json", tmp_path / "w", metadata={"b": 1})
    assert list(items) == ["img0.png", "img1.png"]
    item = items["img0.png"].request_input()  # as the runner sends it: annotations parsed
    images = (tmp_path / "annotations/images").resolve()
    assert item is not None and item.data.metadata == {"b": 1}
    assert item.id == input_id_for(images, "img0.png")  # named as `import folder` names it
    regions = [a.data.regions[0] for a in item.annotations]
    box = regions[0].region_info.bounding_box
    assert box is not None and regions[0].region_info.polygon is None
    assert (box.left_col, box.top_row) == (1.5 / W, 2.0 / H)
    assert box.right_col == pytest.approx(21.5 / W) and box.bottom_row == pytest.approx(12.5 / H)
    poly = regions[1].region_info.polygon
    assert poly is not None and len(poly.points) == 5 and poly.points[1].col == 30.5 / W
    for region in regions[2:]:  # polygon mask, uncompressed RLE, compressed RLE
        assert region.region_info.mask is not None
        mask = region.region_info.mask.image.base64
        assert isinstance(mask, bytes) and Image.open(io.BytesIO(mask)).size == (W, H)
    concepts = [(r.data.concepts[0].id, r.data.concepts[0].name) for r in regions[:2]]
    assert concepts == [("cat", "cat"), ("traffic-light", "traffic light")]
    infos = [a.annotation_info["coco"] for a in item.annotations]
    assert [i["iscrowd"] for i in infos] == [0, 0, 0, 1, 1]
    assert [i["category_id"] for i in infos[:2]] == [1, 7]
    assert infos[0]["annotation_id"] == 1000 and infos[0]["image_id"] == 100
    # stable annotation ids: the same file gives the same ids
    again = items_of(tmp_path / "annotations/instances.json", tmp_path / "w2")
    again_ids = [a.id for a in again["img0.png"].request_input().annotations]
    assert again_ids == [a.id for a in item.annotations]


def test_bad_annotations_and_images_fail_alone(tmp_path: Path) -> None:
    doc = make_coco(tmp_path, 3)
    (tmp_path / "annotations/images/img1.png").unlink()
    doc["annotations"][0]["category_id"] = 99  # img0's box
    doc["annotations"][6]["segmentation"] = [[1, 2, 3, 4]]  # img1 is missing anyway
    doc["annotations"][11]["bbox"] = [1, 1, -3, 2]  # img2's polygon
    doc["annotations"].append({"id": 5, "image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1]})
    # Degenerate boxes (no area, or wholly outside the image) fail alone too, not their image.
    doc["annotations"].append({"id": 6, "image_id": 102, "category_id": 1, "bbox": [3, 3, 0, 2]})
    doc["annotations"].append({"id": 7, "image_id": 102, "category_id": 1, "bbox": [900, 1, 5, 5]})
    doc["images"].append({"id": 100, "file_name": "again.png", "width": W, "height": H})
    doc["images"].append({"file_name": "noid.png"})
    doc["images"].append(["not", "an", "object"])
    write_json(tmp_path / "annotations/instances.json", doc)
    items = items_of(tmp_path / "annotations/instances.json", tmp_path / "w")
    failed = {k: (int(i.error.code), i.error.message) for k, i in items.items() if i.error}
    assert set(failed) == {
        f"img0.png{ANNOTATION_KEY}1000",
        "img1.png",
        f"img2.png{ANNOTATION_KEY}1021",
        f"img2.png{ANNOTATION_KEY}6",
        f"img2.png{ANNOTATION_KEY}7",
        "annotation=5",
        "again.png",
        "noid.png",
        "images[5]",
    }
    assert failed[f"img0.png{ANNOTATION_KEY}1000"][0] == StatusCode.ANNOTATION_INVALID_ARGUMENT
    assert "unknown category id 99" in failed[f"img0.png{ANNOTATION_KEY}1000"][1]
    assert failed["img1.png"][0] == StatusCode.INPUT_DOES_NOT_EXIST
    assert "negative" in failed[f"img2.png{ANNOTATION_KEY}1021"][1]
    assert "no area" in failed[f"img2.png{ANNOTATION_KEY}6"][1]
    assert "no area" in failed[f"img2.png{ANNOTATION_KEY}7"][1]
    assert failed["annotation=5"][0] == StatusCode.ANNOTATION_INVALID_ARGUMENT
    assert "image id 999" in failed["annotation=5"][1]
    assert "repeats" in failed["again.png"][1]
    img0, img2 = items["img0.png"].request_input(), items["img2.png"].request_input()
    assert img0 is not None and len(img0.annotations) == 4 and not img0.replace
    assert img2 is not None and len(img2.annotations) == 4

    # --retry-failed: the image of a failed annotation comes back as an update
    keys = {f"img0.png{ANNOTATION_KEY}1000", "img1.png"}
    retried = items_of(tmp_path / "annotations/instances.json", tmp_path / "w2", keys=keys)
    assert set(retried) == {"img0.png", f"img0.png{ANNOTATION_KEY}1000", "img1.png"}
    assert retried["img0.png"].input is not None and retried["img0.png"].input.replace


def test_file_names_cannot_leave_the_images_folder(tmp_path: Path) -> None:
    doc = make_coco(tmp_path, 1)
    (tmp_path / "secret.png").write_bytes((tmp_path / "annotations/images/img0.png").read_bytes())
    doc["images"].append({"id": 5, "file_name": "../../secret.png", "width": W, "height": H})
    write_json(tmp_path / "annotations/instances.json", doc)
    items = items_of(tmp_path / "annotations/instances.json", tmp_path / "w")
    err = items["../../secret.png"].error
    assert err is not None and err.code == StatusCode.INPUT_PERMISSION_DENIED


def test_declared_size_is_checked_against_the_file(tmp_path: Path) -> None:
    doc = make_coco(tmp_path, 1)
    doc["images"][0]["width"] = W * 2
    write_json(tmp_path / "annotations/instances.json", doc)
    err = items_of(tmp_path / "annotations/instances.json", tmp_path / "w")["img0.png"].error
    assert (
        err is not None and err.code == StatusCode.INPUT_INVALID_ARGUMENT and "64x48" in err.message
    )


@pytest.mark.parametrize(
    "text",
    ['{"images": [{"id": 1, "file_name": "a.png"}', "[1, 2]", '{"images": [}', "not json"],
)
def test_broken_or_foreign_json_is_refused_whole(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(text)
    (tmp_path / "w").mkdir()
    with pytest.raises(CocoFileError):
        open_coco(path, None, tmp_path / "w", ArchiveLimits())


def test_hostile_rle_is_refused_before_pycocotools_decodes_it(tmp_path: Path) -> None:
    doc = make_coco(tmp_path, 1)
    doc["annotations"][3]["segmentation"]["counts"] = [0, W * H * 50]  # overflow on decode
    doc["annotations"][4]["segmentation"]["counts"] = "\x7f\x7f\x7f"
    write_json(tmp_path / "annotations/instances.json", doc)
    items = items_of(tmp_path / "annotations/instances.json", tmp_path / "w")
    assert (
        "RLE runs cover"
        in (items[f"img0.png{ANNOTATION_KEY}1003"].error or InputError(0, "")).message
    )
    assert items[f"img0.png{ANNOTATION_KEY}1004"].error is not None


def test_rle_string_counts_match_pycocotools() -> None:
    from pycocotools import mask as mask_utils

    m = np.zeros((H, W), dtype=np.uint8, order="F")
    m[3:40, 5:9] = 1
    m[10, 20:60] = 1
    rle = mask_utils.encode(m)
    runs = rle_string_counts(rle["counts"].decode())
    assert sum(runs) == W * H and sum(runs[1::2]) == int(mask_utils.area(rle))


def test_zip_with_json_and_images(tmp_path: Path) -> None:
    make_coco(tmp_path / "src", 2)
    archive = tmp_path / "coco.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "src/annotations/instances.json", "ds/annotations/instances_x.json")
        for n in range(2):
            zf.write(tmp_path / f"src/annotations/images/img{n}.png", f"ds/x/img{n}.png")
    items = items_of(archive, tmp_path / "w")
    assert all(it.input is not None for it in items.values()) and len(items) == 2


def test_zip_climbing_out_is_refused_whole(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("instances.json", json.dumps({"images": []}))
        zf.writestr("../../escape.png", b"x")
    (tmp_path / "w").mkdir()
    with pytest.raises(InputError) as exc:
        open_coco(archive, None, tmp_path / "w", ArchiveLimits())
    assert exc.value.code == StatusCode.ARCHIVE_EXTRACT_FAILED
    assert not (tmp_path / "escape.png").exists()


def test_a_repeated_annotation_id_on_one_image_fails_alone(tmp_path: Path) -> None:
    # Two annotations of one id on one input would be one catalog row written twice in a
    # statement (PostgreSQL refuses ON CONFLICT touching a row twice).
    doc = make_coco(tmp_path, 1)
    doc["annotations"][1]["id"] = doc["annotations"][0]["id"]
    write_json(tmp_path / "annotations/instances.json", doc)
    items = items_of(tmp_path / "annotations/instances.json", tmp_path / "w")
    err = items[f"img0.png{ANNOTATION_KEY}1000"].error
    assert err is not None and "repeats" in err.message
    item = items["img0.png"].request_input()
    assert len(item.annotations) == 4


def test_zip_of_the_json_alone_reads_images_from_the_folder_given(tmp_path: Path) -> None:
    make_coco(tmp_path / "src", 2)
    archive = tmp_path / "only-json.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "src/annotations/instances.json", "instances.json")
    items = items_of(archive, tmp_path / "w", images=tmp_path / "src/annotations/images")
    assert [it.input is not None for it in items.values()] == [True, True]


# Computed on main before the lister built annotations without pydantic's validation: what a
# COCO import stores must stay byte-for-byte the same (ids from the file's annotation ids).
PINNED = {
    "img0.png": (
        "9934399805b9e394aece6f679a7f3942894577c0d6d9badf54bff7fe76183457",
        "0b195a01909fa389b56ae75c5582738882558bc908932d298e23332d93ad10f0",
    ),
    "img1.png": (
        "0762341b9c5ed4a7f6cc94ddf8e7fbc38e20813c72e43b1790b301f22666f337",
        "45eec48cbe609fc654f42d21343b984cd28b8f085aeeebdd28aa3946d5672a78",
    ),
}


def test_annotations_and_their_records_are_pinned(tmp_path: Path) -> None:
    make_coco(tmp_path, 2)
    items = items_of(tmp_path / "annotations/instances.json", tmp_path / "w")
    assert list(items) == list(PINNED)
    for key, (dumped, stored) in PINNED.items():
        item = items[key].request_input()
        assert item.id is not None
        anns = item.annotations
        coco_ids = [str(a.annotation_info["coco"]["annotation_id"]) for a in anns]
        assert [a.id for a in anns] == [derived_id("coco", item.id, n) for n in coco_ids]
        assert fingerprint([a.model_dump(mode="json", exclude={"id"}) for a in anns]) == dumped
        records = [annotation_record(a, user_id="me", app_id="main", input_id="x") for a in anns]
        rows = [(r.data, r.annotation_info, r.status, r.annotation_user_id) for r in records]
        assert fingerprint(rows) == stored
        # as pydantic would have parsed them: the same models, field for field
        assert anns == [Annotation.model_validate(a.model_dump()) for a in anns]


@pytest.mark.parametrize("storage", ["sqlite-local"], indirect=True)
def test_an_item_whose_annotations_do_not_parse_fails_alone(
    runtime: Runtime, tmp_path: Path
) -> None:
    make_coco(tmp_path, 2)
    items = items_of(tmp_path / "annotations/instances.json", tmp_path / "w")
    items["img0.png"].annotations_json = b'[{"data": {"regions": "not a list"}}]'
    options = ImportOptions(limits=runtime.settings.limits, poll_interval=0.05)
    summary = ImportRun(runtime.submit, runtime.catalog, options).run(items.values(), timeout=60)
    assert summary.actions == {"created": 1, "failed": 1}
    (failure,) = summary.failures
    assert failure["item"] == "img0.png" and failure["code"] == 24155
    assert "regions" in failure["message"]
    stored = runtime.catalog.get_input("me", "main", items["img1.png"].input_id or "")
    assert stored is not None and len(stored["annotations"]) == 5
