"""The pure parts of dataset versions: filters, metrics of video frames, manifests, merges."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestd.cli.datasets.filter_options import FilterArgs
from ingestd.cli.datasets.versions import merge_metadata
from pipeline.events import AnnotationFilter, SnapshotRequest
from pipeline.snapshot.filter import (
    AnnotationSelector,
    FilterConfigError,
    effective_config,
    parse_filter_config,
)
from pipeline.snapshot.manifest import ManifestWriter
from pipeline.snapshot.metrics import MetricsCounter


def ann(user: str, status: str = "ANNOTATION_SUCCESS", model: str | None = None) -> dict:
    return {"id": user, "user_id": user, "status": status, "model_version_id": model, "data": {}}


def test_selector_combines_status_user_and_model_version() -> None:
    anns = [
        ann("a"),
        ann("b", "ANNOTATION_PENDING"),
        ann("m", model="mv-1"),
        ann("n", model="mv-2"),
    ]

    def kept(**kw: object) -> list[str]:
        return [a["id"] for a in AnnotationSelector(AnnotationFilter(**kw)).select(anns)]  # type: ignore[arg-type]

    assert kept() == ["a", "b", "m", "n"]
    assert kept(statuses=["ANNOTATION_SUCCESS"]) == ["a", "m", "n"]
    assert kept(ground_truth_only=True) == ["a", "b"]
    assert kept(predictions_only=True) == ["m", "n"]
    assert kept(model_version_ids=["mv-2"]) == ["a", "b", "n"]  # ground truth stays
    assert kept(predictions_only=True, model_version_ids=["mv-2"]) == ["n"]
    assert kept(user_ids=["b", "m"], statuses=["ANNOTATION_SUCCESS"]) == ["m"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"annotation_filter": {"users": ["a"]}}, "unknown field 'annotation_filter.users'"),
        ({"users": ["a"]}, "unknown field 'annotation_filter.users'"),
        ({"statuses": ["OK"]}, "unknown annotation status 'OK'"),
        ({"ground_truth_only": True, "predictions_only": True}, "exclude each other"),
        ({"ground_truth_only": True, "model_version_ids": ["m"]}, "ground_truth_only drops"),
        ({"ignore_empty_inputs": "maybe"}, "ignore_empty_inputs"),
        (["statuses"], "expected a JSON object"),
    ],
)
def test_bad_filter_configs_are_explained(raw: object, message: str) -> None:
    with pytest.raises(FilterConfigError, match=message):
        parse_filter_config(raw, "the dataset's default filter")


def test_the_version_filter_overrides_the_dataset_default() -> None:
    default = {"annotation_filter": {"user_ids": ["a"]}, "ignore_empty_inputs": True}
    plain = SnapshotRequest(dataset_id="d")
    assert (
        effective_config(plain, default).model_dump()
        == parse_filter_config(default, "x").model_dump()
    )
    own = SnapshotRequest(
        dataset_id="d",
        annotation_filter=AnnotationFilter(user_ids=["b"]),
        ignore_empty_inputs=False,
    )
    config = effective_config(own, default)
    assert config.annotation_filter.user_ids == ["b"] and config.ignore_empty_inputs is False
    assert effective_config(plain, None).model_dump() == {
        "annotation_filter": AnnotationFilter().model_dump(),
        "ignore_empty_inputs": False,
    }


def test_cli_filter_options_build_one_filter() -> None:
    args = FilterArgs(
        ["ANNOTATION_SUCCESS"], ["ann"], None, False, False, '{"user_ids": ["bo"]}', None
    )
    f, ignore = args.build()
    assert f is not None and f.user_ids == ["bo", "ann"] and f.statuses == ["ANNOTATION_SUCCESS"]
    assert ignore is None
    assert FilterArgs(None, None, None, False, False, None, True).build() == (None, True)
    with pytest.raises(FilterConfigError, match="not valid JSON"):
        FilterArgs(None, None, None, False, False, "{", None).build()
    with pytest.raises(FilterConfigError, match="exclude each other"):
        FilterArgs(None, None, None, True, True, None, None).build()


def test_metrics_count_video_frames_and_their_regions() -> None:
    whole = {"top_row": 0, "left_col": 0, "bottom_row": 1, "right_col": 1}
    box = {
        "region_info": {"bounding_box": whole},
        "data": {"concepts": [{"id": "car"}, {"id": "bus", "value": 0.0}]},
    }
    line = {
        "id": "vid",
        "type": "video",
        "data": {"metadata": {"k": 1}},
        "annotations": [
            {"id": "f1", "data": {"frames": [
                {"frame_info": {"index": 0, "time": 0}, "data": {"concepts": [{"id": "road"}]}},
                {"frame_info": {"index": 1, "time": 40}, "data": {"regions": [box, box]}},
            ]}},
            {"id": "f2", "data": {"frames": [{"frame_info": {"index": 2, "time": 80}}]}},
        ],
    }  # fmt: skip
    m = MetricsCounter()
    m.add(line, labeled=True)
    m.add({"id": "txt", "type": "text", "data": {}, "annotations": []}, labeled=False)
    out = m.to_dict()
    assert (out["frames_count"], out["frame_inputs_count"], out["region_frames_count"]) == (3, 1, 1)
    assert (out["regions_count"], out["bounding_boxes_count"], out["region_inputs_count"]) == (
        2,
        2,
        1,
    )
    assert (out["positive_frame_tags_count"], out["positive_region_tags_count"]) == (1, 2)
    assert (out["inputs_count"], out["unlabeled_inputs_count"]) == (2, 1)
    assert out["concepts"] == {"car": 2, "road": 1}
    assert out["input_types"] == {"text": 1, "video": 1}


def test_manifest_writer_refuses_lines_out_of_order(tmp_path: Path) -> None:
    with ManifestWriter(tmp_path / "m.jsonl") as w:
        w.write({"id": "a", "annotations": []})
        with pytest.raises(RuntimeError, match="out of order"):
            w.write({"id": "a", "annotations": []})


def test_metadata_merge_follows_the_reference() -> None:
    old = {"key1": {"key2": "value2", "key3": "value3"}, "keep": 1}
    assert merge_metadata(old, {"key1": {"key2": True}}) == {
        "key1": {"key2": True, "key3": "value3"},
        "keep": 1,
    }
    assert merge_metadata(old, {"key1": {"key2": None}}) == old
    assert merge_metadata(old, {"key1": []})["key1"] == []
