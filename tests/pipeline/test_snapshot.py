"""The snapshot stage on every catalog × blob-store combination: versions, filters, metrics."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

import pytest

from ingestd.app.runtime import Runtime
from pipeline.events import AnnotationFilter, SnapshotRequest, UploadRequest
from pipeline.models import Data, Input, Media
from pipeline.snapshot.metrics import METRIC_FIELDS
from pipeline.snapshot.stage import SnapshotStage
from pipeline.status import StatusCode
from tests.support.snapshots import DATASET, seed, snapshot
from tests.support.storage import image_bytes

READY = StatusCode.DATASET_VERSION_READY


def manifest(rt: Runtime, key: str | None) -> list[dict[str, Any]]:
    assert key is not None
    return [json.loads(line) for line in rt.blobs.get(key).splitlines()]


def independent_metrics(rt: Runtime, keep: Any = lambda a: True) -> dict[str, Any]:
    """Counted straight from the catalog's rows, without the stage's code."""
    s = rt.settings
    counts: Counter[str] = Counter({f: 0 for f in METRIC_FIELDS})
    types: Counter[str] = Counter()
    concepts: Counter[str] = Counter()
    n_anns = 0
    for row in rt.catalog.list_inputs(s.user_id, s.app_id, dataset_id=DATASET, limit=1000):
        full = rt.catalog.get_input(s.user_id, s.app_id, row["id"])
        assert full is not None
        anns = [a for a in full["annotations"] if keep({**a, "user_id": a["annotation_user_id"]})]
        n_anns += len(anns)
        types[row["media_type"]] += 1
        counts["inputs_count"] += 1
        counts["inputs_with_metadata_count"] += bool(row["metadata"])
        counts["inputs_with_geo_count"] += row["geo"] is not None
        counts["unlabeled_inputs_count"] += not any(a["data"] for a in anns)
        regions = [r for a in anns for r in a["data"].get("regions", [])]
        counts["regions_count"] += len(regions)
        counts["region_inputs_count"] += bool(regions)
        for r in regions:
            info = r["region_info"]
            counts["bounding_boxes_count"] += "bounding_box" in info
            counts["polygons_count"] += "polygon" in info
            counts["masks_count"] += "mask" in info
            counts["points_count"] += "point" in info
            for c in r["data"].get("concepts", []):
                if c.get("value", 1.0) > 0:
                    counts["positive_region_tags_count"] += 1
                    concepts[c["id"]] += 1
        for a in anns:
            for c in a["data"].get("concepts", []):
                if c.get("value", 1.0) > 0:
                    counts["positive_input_tags_count"] += 1
                    concepts[c["id"]] += 1
    return {
        **counts,
        "annotations_count": n_anns,
        "input_types": dict(types),
        "concepts": dict(concepts),
    }


def test_version_is_ready_with_metrics_matching_an_independent_count(runtime: Runtime) -> None:
    seed(runtime)
    result = snapshot(runtime, "v1", description="first cut", request_origin="TRAINING")
    v = result.version
    assert v.status_code == READY, v.status_message
    assert v.metrics == independent_metrics(runtime)
    # And the numbers a person counts in the seed: 5 inputs, 8 annotations, 5 regions.
    m = v.metrics
    assert (m["inputs_count"], m["annotations_count"], m["regions_count"]) == (5, 8, 5)
    assert (m["bounding_boxes_count"], m["polygons_count"], m["masks_count"]) == (2, 1, 1)
    assert (m["points_count"], m["unlabeled_inputs_count"], m["region_inputs_count"]) == (1, 1, 3)
    assert (m["positive_input_tags_count"], m["positive_region_tags_count"]) == (2, 6)
    assert m["input_types"] == {"image": 4, "text": 1}
    assert m["concepts"] == {"animal": 1, "cat": 3, "dog": 3, "note": 1}
    assert (v.request_origin, v.description, v.progress, v.total) == ("TRAINING", "first cut", 5, 5)

    lines = manifest(runtime, v.manifest_key)
    assert [x["id"] for x in lines] == ["img-a", "img-b", "img-c", "img-d", "txt-e"]
    assert lines[2]["annotations"] == []
    assert all(x["data"]["blob_key"].startswith("media/") for x in lines)
    raw = runtime.blobs.get(v.manifest_key or "")
    assert v.content_hash == hashlib.sha256(raw).hexdigest()
    assert v.manifest_size == len(raw)


def test_same_state_same_hash_and_a_ready_version_never_changes(runtime: Runtime) -> None:
    seed(runtime)
    first = snapshot(runtime, "v1").version
    again = snapshot(runtime, "v1-again").version
    assert again.content_hash == first.content_hash
    assert again.metrics == first.metrics
    manifest_before = runtime.blobs.get(first.manifest_key or "")

    extra = Input(id="img-z", data=Data(image=Media(base64=image_bytes("PNG", color="black"))))
    assert not runtime.ingest.handle(UploadRequest(inputs=[extra], dataset_ids=[DATASET])).failed
    later = snapshot(runtime, "v2").version
    assert later.content_hash != first.content_hash
    assert later.metrics and later.metrics["inputs_count"] == 6

    replay = snapshot(runtime, "v1")  # the same request again, after the dataset changed
    assert replay.replayed
    store = runtime.catalog.versions
    s = runtime.settings
    # The catalog itself refuses every state change on a ready version.
    store.mark_failed(s.user_id, s.app_id, "v1", 64020, "late failure")
    store.mark_in_progress(s.user_id, s.app_id, "v1", {})
    now = store.get_version(s.user_id, s.app_id, "v1")
    assert now is not None
    assert (now.status_code, now.content_hash, now.metrics) == (
        READY,
        first.content_hash,
        first.metrics,
    )
    assert runtime.blobs.get(first.manifest_key or "") == manifest_before


def test_paging_does_not_change_the_version(runtime: Runtime) -> None:
    seed(runtime)
    whole = snapshot(runtime, "big-pages").version
    tiny = SnapshotStage(runtime.blobs, runtime.catalog.versions, page_size=2)
    paged = tiny.handle(SnapshotRequest(dataset_id=DATASET, version_id="two-per-page")).version
    assert paged.content_hash == whole.content_hash
    assert paged.progress == paged.total == 5


def test_two_filters_make_two_versions_of_the_same_inputs(runtime: Runtime) -> None:
    seed(runtime)
    by_alice = snapshot(runtime, "alice", annotation_filter=AnnotationFilter(user_ids=["alice"]))
    by_bob = snapshot(runtime, "bob", annotation_filter=AnnotationFilter(user_ids=["bob"]))
    a, b = by_alice.version, by_bob.version
    assert a.status_code == b.status_code == READY
    ids = [x["id"] for x in manifest(runtime, a.manifest_key)]
    assert ids == [x["id"] for x in manifest(runtime, b.manifest_key)]
    users = {ann["user_id"] for x in manifest(runtime, a.manifest_key) for ann in x["annotations"]}
    assert users == {"alice"}
    assert a.content_hash != b.content_hash
    assert a.metrics == independent_metrics(runtime, lambda x: x["user_id"] == "alice")
    assert b.metrics == independent_metrics(runtime, lambda x: x["user_id"] == "bob")
    assert a.annotation_filter_config == {
        "annotation_filter": {
            "statuses": [],
            "user_ids": ["alice"],
            "model_version_ids": [],
            "ground_truth_only": False,
            "predictions_only": False,
        },
        "ignore_empty_inputs": False,
    }


@pytest.mark.parametrize("storage", ["sqlite-local", "postgres-local"], indirect=True)
def test_filters_by_status_model_version_and_empty_inputs(runtime: Runtime) -> None:
    seed(runtime)

    def count(vid: str, **kw: Any) -> tuple[int, int]:
        m = snapshot(runtime, vid, **kw).version.metrics or {}
        return m["inputs_count"], m["annotations_count"]

    assert count("gt", annotation_filter=AnnotationFilter(ground_truth_only=True)) == (5, 7)
    assert count("pred", annotation_filter=AnnotationFilter(predictions_only=True)) == (5, 1)
    assert count(
        "mv2", annotation_filter=AnnotationFilter(predictions_only=True, model_version_ids=["mv-2"])
    ) == (5, 0)
    assert count("ok", annotation_filter=AnnotationFilter(statuses=["ANNOTATION_SUCCESS"])) == (
        5,
        7,
    )
    assert count(
        "alice-nonempty",
        annotation_filter=AnnotationFilter(user_ids=["alice"]),
        ignore_empty_inputs=True,
    ) == (3, 3)
    # Without an override the dataset's default filter applies, ignore_empty_inputs included.
    store = runtime.catalog.versions
    s = runtime.settings
    default = {"annotation_filter": {"user_ids": ["bob"]}, "ignore_empty_inputs": True}
    assert store.set_default_filter(s.user_id, s.app_id, DATASET, default)
    assert count("default") == (2, 2)
    assert count("override", annotation_filter=AnnotationFilter(user_ids=["alice"])) == (3, 3)
    assert count("keep-empty", ignore_empty_inputs=False) == (5, 2)


def test_bad_requests_fail_with_clear_codes(runtime: Runtime) -> None:
    seed(runtime)
    missing = snapshot(runtime, "nope", dataset_id="no-such-dataset").version
    assert missing.status_code == StatusCode.DATASET_VERSION_FAILURE
    assert "dataset 'no-such-dataset' does not exist" in missing.status_message

    runtime.catalog.create_dataset(runtime.settings.user_id, runtime.settings.app_id, "empty")
    empty = snapshot(runtime, "empty-v", dataset_id="empty").version
    assert empty.status_code == StatusCode.DATASET_VERSION_FAILURE
    assert "has no inputs" in empty.status_message

    bad_status = snapshot(runtime, "bs", annotation_filter=AnnotationFilter(statuses=["DONE"]))
    assert "unknown annotation status 'DONE'" in bad_status.version.status_message

    bad_format = snapshot(runtime, "bf", export_formats=["CLARIFAI_DATA_PROTOBUF"])
    assert "protobuf exports are not supported" in bad_format.version.status_message

    s = runtime.settings
    runtime.catalog.versions.set_default_filter(
        s.user_id, s.app_id, DATASET, {"annotation_filter": {"labeler": "alice"}}
    )
    unknown = snapshot(runtime, "uf").version
    assert unknown.status_code == StatusCode.DATASET_VERSION_FAILURE
    assert "unknown field 'annotation_filter.labeler'" in unknown.status_message
    assert unknown.metrics is None and unknown.manifest_key is None

    with pytest.raises(Exception, match="Extra inputs are not permitted"):
        AnnotationFilter.model_validate({"labeler": "alice"})

    snapshot(runtime, "taken", annotation_filter=AnnotationFilter(user_ids=["bob"]))
    with pytest.raises(Exception) as conflict:
        snapshot(runtime, "taken", annotation_filter=AnnotationFilter(user_ids=["alice"]))
    assert getattr(conflict.value, "code", None) == StatusCode.DATASET_VERSION_CONFLICT
    with pytest.raises(Exception) as bad_id:
        snapshot(runtime, "../escape")
    assert getattr(bad_id.value, "code", None) == StatusCode.INPUT_INVALID_ARGUMENT


def test_a_failed_version_succeeds_when_its_request_is_replayed_after_the_fix(
    runtime: Runtime,
) -> None:
    s = runtime.settings
    request = SnapshotRequest(
        user_id=s.user_id, app_id=s.app_id, dataset_id=DATASET, version_id="v"
    )
    assert (
        runtime.snapshot.handle(request).version.status_code == StatusCode.DATASET_VERSION_FAILURE
    )
    seed(runtime)
    assert runtime.snapshot.handle(request).version.status_code == READY


@pytest.mark.parametrize("storage", ["sqlite-local", "postgres-local"], indirect=True)
def test_the_snapshot_and_the_bus_route_requests_and_conflicts(runtime: Runtime) -> None:
    seed(runtime)
    runtime.publish(SnapshotRequest(dataset_id=DATASET, version_id="via-bus"))
    runtime.bus.join()
    runtime.publish(
        SnapshotRequest(
            dataset_id=DATASET,
            version_id="via-bus",
            annotation_filter=AnnotationFilter(user_ids=["x"]),
            request_id="conflicting",
        )
    )
    runtime.bus.join()
    s = runtime.settings
    row = runtime.catalog.versions.get_version(s.user_id, s.app_id, "via-bus")
    assert row is not None and row.status_code == READY
    letters = [d for d in runtime.catalog.list_dead_letters() if d.event_id == "conflicting"]
    assert [d.code for d in letters] == [StatusCode.DATASET_VERSION_CONFLICT]
    assert "choose a new version id" in letters[0].message
