"""`ingestd datasets versions ...`, `ingestd datasets filter ...` and `ingestd versions ...`."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from PIL import Image
from pycocotools.coco import COCO

from ingestd.app.runtime import Runtime
from tests.support.cli import run
from tests.support.snapshots import DATASET

pytestmark = [
    pytest.mark.parametrize("storage", ["sqlite-local", "postgres-s3"], indirect=True),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


def test_create_list_get_update_delete(cli: Runtime) -> None:
    made = run(
        "datasets", "versions", "create", DATASET, "--id", "v1", "--description", "first",
        "--request-origin", "eval_ground_truth", "--ground-truth-only",
        "--metadata", '{"run": {"a": 1}}', "--json",
    )  # fmt: skip
    assert made["status"] == "DATASET_VERSION_READY"
    assert made["request_origin"] == "EVAL_GROUND_TRUTH"
    assert made["metrics"]["annotations_count"] == 7
    assert made["annotation_filter_config"]["annotation_filter"]["ground_truth_only"] is True

    again = run("datasets", "versions", "create", DATASET, "--id", "v1", "--description",
                "first", "--request-origin", "EVAL_GROUND_TRUTH", "--ground-truth-only",
                "--metadata", '{"run": {"a": 1}}', "--json")  # fmt: skip
    assert again["content_hash"] == made["content_hash"]  # the same create resumes / repeats

    out = run("datasets", "versions", "create", DATASET, "--id", "v1", code=1)
    assert "64030 DATASET_VERSION_CONFLICT" in out
    out = run("datasets", "versions", "create", "ghost", code=1)
    assert "11101 CONN_DOES_NOT_EXIST" in out and "ghost" in out
    out = run("datasets", "versions", "create", DATASET, "--filter", '{"labeler": "x"}', code=1)
    assert "unknown field 'annotation_filter.labeler'" in out
    out = run("datasets", "versions", "create", DATASET, "--request-origin", "WHENEVER", code=1)
    assert "--request-origin must be one of" in out

    listed = run("datasets", "versions", "list", DATASET, "--json")
    assert [v["id"] for v in listed] == ["v1"]
    assert "v1" in run("datasets", "versions", "list", DATASET)
    shown = run("datasets", "versions", "get", "v1")
    assert "64015 DATASET_VERSION_READY" in shown and "ground truth only" in shown

    updated = run("datasets", "versions", "update", "v1", "--description", "renamed",
                  "--metadata", '{"run": {"b": 2}}', "--json")  # fmt: skip
    assert updated["description"] == "renamed"
    assert updated["metadata"] == {"run": {"a": 1, "b": 2}}
    assert updated["content_hash"] == made["content_hash"]

    gone = run("datasets", "versions", "delete", "v1", "--yes", "--json")
    assert gone["deleted"] and gone["blobs_deleted"] == 1  # the manifest
    assert "11101" in run("datasets", "versions", "get", "v1", code=1)
    assert not list(cli.blobs.keys("versions/"))


def test_filters_exports_diff_and_plot(cli: Runtime, tmp_path: Path) -> None:
    assert "by bob" in run("datasets", "filter", "set", DATASET, "--labeler", "bob")
    assert run("datasets", "filter", "get", DATASET, "--json")["annotation_filter"]["user_ids"] == [
        "bob"
    ]
    bob = run("datasets", "versions", "create", DATASET, "--id", "bob", "--json")
    assert bob["metrics"]["annotations_count"] == 2
    run("datasets", "filter", "clear", DATASET)
    everything = run("datasets", "versions", "create", DATASET, "--id", "all", "--export", "json",
                     "--json")  # fmt: skip
    assert everything["metrics"]["annotations_count"] == 8
    assert everything["export_info"]["CLARIFAI_DATA_JSON"]["status"]["code"] == 25170

    target = tmp_path / "coco.zip"
    exported = run("versions", "export", "all", "--format", "coco", "-o", str(target), "--json")
    assert exported["status"]["code"] == 25170 and not exported["reused"]
    with zipfile.ZipFile(target) as zf:
        zf.extractall(tmp_path / "coco")
    coco = COCO(str(tmp_path / "coco/annotations/instances_default.json"))
    assert len(coco.getImgIds()) == 4 and len(coco.getAnnIds()) == 5
    assert run("versions", "export", "all", "--format", "coco", "--json")["reused"]
    assert "unknown export format" in run("versions", "export", "all", "--format", "tf", code=1)

    diff = run("versions", "diff", "bob", "all", "--json")
    assert (diff["inputs_added"], diff["inputs_removed"]) == (0, 0)
    assert diff["annotations_added"] == 6 and diff["inputs_annotations_changed"] == 4
    assert "annotations_added" in run("versions", "diff", "bob", "all")

    png = tmp_path / "charts" / "versions.png"
    assert "2 ready version(s)" in run("versions", "plot", DATASET, "-o", str(png))
    with Image.open(png) as img:
        assert img.format == "PNG"
    assert "no ready version" in run("versions", "plot", "ghost", code=1)

    cli.blobs.delete(bob["manifest_key"])
    assert "cannot read the manifest of version 'bob'" in run(
        "versions", "diff", "bob", "all", code=1
    )
