"""Patching and deleting stored inputs, and `gc`, on every catalog x blob-store combination."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from connectors.gc import collect_garbage
from ingestd.app.runtime import Runtime
from pipeline.events import UploadRequest
from pipeline.ingest.manage import InputPatch, overall
from pipeline.models import Concept, Data, Input, Media
from pipeline.patching import PatchAction
from pipeline.snapshot.export import export_version
from pipeline.snapshot.manifest import version_prefix
from pipeline.status import StatusCode
from tests.support.snapshots import DATASET, seed, snapshot
from tests.support.storage import image_bytes

LATER = datetime.now(UTC) + timedelta(days=2)  # every blob written by the test is a day old


def ids_of(rt: Runtime, **kw: object) -> list[str]:
    s = rt.settings
    return [r["id"] for r in rt.catalog.list_inputs(s.user_id, s.app_id, limit=100, **kw)]


def other_app(rt: Runtime) -> None:
    """Another app of the same user holding an input with the same id as ours."""
    img = Input(id="img-a", data=Data(image=Media(base64=image_bytes("PNG", color="black"))))
    req = UploadRequest(user_id=rt.settings.user_id, app_id="other", inputs=[img])
    assert not rt.ingest.handle(req).failed


def test_patch_merge_remove_overwrite_each_input_its_own_status(runtime: Runtime) -> None:
    seed(runtime)
    other_app(runtime)
    s, inputs = runtime.settings, runtime.catalog.inputs
    before_other = runtime.catalog.get_input(s.user_id, "other", "img-a")

    merge = InputPatch(
        PatchAction.MERGE,
        {
            "metadata": {"split": "train", "batch": 2},
            "concepts": [{"id": "dog", "value": 1.0}, {"id": "cat", "value": 0.0}],
            "geo": {"geo_point": {"latitude": 1.5, "longitude": 2.5}},
        },
    )
    out = inputs.patch_inputs(s.user_id, s.app_id, ["img-a", "ghost", "img-a"], merge, s.limits)
    assert [(o.input_id, o.code) for o in out] == [
        ("img-a", StatusCode.INPUT_MODIFY_SUCCESS),
        ("ghost", StatusCode.INPUT_DOES_NOT_EXIST),
    ]
    assert "ghost" in out[1].message and overall(out) is StatusCode.MIXED_STATUS
    a = runtime.catalog.get_input(s.user_id, s.app_id, "img-a")
    assert a is not None
    assert a["metadata"] == {"batch": 2, "split": "train"}
    assert a["concepts"] == [{"id": "cat", "value": 0.0}, {"id": "dog", "value": 1.0}]
    assert a["geo"] == {"geo_point": {"latitude": 1.5, "longitude": 2.5}}
    level = [x for x in a["annotations"] if x["data"].get("concepts")]
    assert [c["id"] for c in level[0]["data"]["concepts"]] == ["cat", "dog"]
    assert runtime.catalog.get_input(s.user_id, "other", "img-a") == before_other

    remove = InputPatch(
        PatchAction.REMOVE, {"metadata": {"split": True}, "concepts": [{"id": "cat"}], "geo": True}
    )
    out = inputs.patch_inputs(s.user_id, s.app_id, ["img-a"], remove, s.limits)
    assert out[0].ok
    a = runtime.catalog.get_input(s.user_id, s.app_id, "img-a")
    assert a is not None
    assert (a["metadata"], a["concepts"], a["geo"]) == (
        {"batch": 2},
        [{"id": "dog", "value": 1.0}],
        None,
    )

    # The reference's overwrite example: the data object is replaced (geo is gone).
    over = InputPatch(
        PatchAction.OVERWRITE,
        {"concepts": [{"id": "ferrari", "value": 1.0}], "metadata": {"foo": "bar"}},
    )
    out = inputs.patch_inputs(s.user_id, s.app_id, ["img-d", "txt-e"], over, s.limits)
    assert all(o.ok for o in out) and overall(out) is StatusCode.SUCCESS
    d = runtime.catalog.get_input(s.user_id, s.app_id, "img-d")
    assert d is not None and d["blob_key"]
    assert (d["concepts"], d["metadata"], d["geo"]) == (
        [{"id": "ferrari", "value": 1.0}],
        {"foo": "bar"},
        None,
    )

    # A result an upload would refuse fails for that input alone and changes nothing.
    bad = InputPatch(PatchAction.MERGE, {"concepts": [{"id": "x", "value": 7}]})
    out = inputs.patch_inputs(s.user_id, s.app_id, ["img-c", "ghost"], bad, s.limits)
    assert [o.code for o in out] == [
        StatusCode.INPUT_INVALID_ARGUMENT,
        StatusCode.INPUT_DOES_NOT_EXIST,
    ]
    assert "value" in out[0].message and overall(out) is StatusCode.FAILURE
    c = runtime.catalog.get_input(s.user_id, s.app_id, "img-c")
    assert c is not None and c["concepts"] == []

    # A new version holds the patched data.
    v = snapshot(runtime, "after-patch").version
    lines = {x["id"]: x for x in map(json.loads, runtime.blobs.get(v.manifest_key).splitlines())}
    assert lines["img-d"]["data"]["metadata"] == {"foo": "bar"}
    concepts = [
        c["id"] for ann in lines["img-d"]["annotations"] for c in ann["data"].get("concepts", [])
    ]
    assert "ferrari" in concepts and "dog" not in concepts


def test_delete_leaves_datasets_and_new_versions_ready_versions_keep_it(
    runtime: Runtime, tmp_path: Path
) -> None:
    seed(runtime)
    other_app(runtime)
    s = runtime.settings
    v1 = snapshot(runtime, "v1").version
    gone = runtime.catalog.get_input(s.user_id, s.app_id, "img-a")
    assert gone is not None and v1.manifest_key

    out = runtime.catalog.inputs.delete_inputs(s.user_id, s.app_id, ["img-a", "ghost"])
    assert [(o.input_id, o.action, o.code) for o in out] == [
        ("img-a", "deleted", StatusCode.SUCCESS),
        ("ghost", "failed", StatusCode.INPUT_DOES_NOT_EXIST),
    ]
    assert runtime.catalog.get_input(s.user_id, s.app_id, "img-a") is None
    assert "img-a" not in ids_of(runtime, dataset_id=DATASET)
    assert runtime.catalog.get_input(s.user_id, "other", "img-a") is not None  # never touched
    again = runtime.catalog.inputs.delete_inputs(s.user_id, s.app_id, ["img-a"])
    assert again[0].code is StatusCode.INPUT_DOES_NOT_EXIST

    v2 = snapshot(runtime, "v2").version
    assert v2.metrics is not None and v1.metrics is not None
    assert v2.metrics["inputs_count"] == v1.metrics["inputs_count"] - 1
    assert "img-a" not in runtime.blobs.get(v2.manifest_key or "").decode()

    # gc, as if a day had passed: the deleted input's blob stays (v1's manifest names it).
    report = collect_garbage(runtime.catalog, runtime.blobs, grace=timedelta(hours=1), now=LATER)
    assert gone["blob_key"] not in report.removed and runtime.blobs.exists(gone["blob_key"])
    manifest = tmp_path / "v1.jsonl"
    runtime.blobs.download(v1.manifest_key, manifest)
    prefix = version_prefix(s.user_id, s.app_id, DATASET, "v1")
    info = export_version("JSON", manifest, v1.to_dict(), runtime.blobs, prefix, tmp_path)
    assert info["status"]["code"] == StatusCode.DATA_DUMP_EXPORT_SUCCESS, info
    names = zipfile.ZipFile(io.BytesIO(runtime.blobs.get(info["url"]))).namelist()
    assert any("img-a" in n for n in names)

    # Once no ready version references it either, it goes.
    runtime.catalog.versions.delete_version(s.user_id, s.app_id, "v1")
    report = collect_garbage(runtime.catalog, runtime.blobs, grace=timedelta(hours=1), now=LATER)
    assert gone["blob_key"] in report.removed and not runtime.blobs.exists(gone["blob_key"])
    assert v1.manifest_key in report.removed  # the deleted version's own blobs
    for key in (v2.manifest_key, *[r["blob_key"] for r in runtime.catalog.list_inputs(
        s.user_id, s.app_id, limit=100) if r["blob_key"]]):  # fmt: skip
        assert runtime.blobs.exists(key), key


def test_delete_a_whole_dataset(runtime: Runtime) -> None:
    seed(runtime)
    s = runtime.settings
    ids = runtime.catalog.inputs.dataset_input_ids(s.user_id, s.app_id, DATASET)
    assert ids == ["img-a", "img-b", "img-c", "img-d", "txt-e"]
    assert runtime.catalog.inputs.dataset_input_ids(s.user_id, s.app_id, "nope") is None
    out = runtime.catalog.inputs.delete_inputs(s.user_id, s.app_id, ids)
    assert all(o.ok for o in out)
    assert ids_of(runtime) == ["not-in-dataset"]
    assert ids_of(runtime, dataset_id=DATASET) == []


def test_gc_removes_orphans_keeps_references_and_young_blobs(runtime: Runtime) -> None:
    s = runtime.settings
    img = Input(id="kept", data=Data(image=Media(base64=image_bytes("PNG")), concepts=[
        Concept(id="cat")]))  # fmt: skip
    assert not runtime.ingest.handle(UploadRequest(inputs=[img])).failed
    kept = runtime.catalog.get_input(s.user_id, s.app_id, "kept")
    assert kept is not None
    orphan = f"media/{s.user_id}/{s.app_id}/ab/{'ab' * 32}.png"
    runtime.blobs.put(orphan, b"nobody's")
    stray = f"versions/{s.user_id}/{s.app_id}/ds/gone/manifest-x.jsonl"
    runtime.blobs.put(stray, b"{}\n")
    elsewhere = "reports/keep-me.csv"  # not a prefix gc manages
    runtime.blobs.put(elsewhere, b"x")

    young = collect_garbage(runtime.catalog, runtime.blobs, grace=timedelta(hours=1))
    assert young.removed == [] and young.recent == 2  # an import may be about to use them

    dry = collect_garbage(
        runtime.catalog, runtime.blobs, grace=timedelta(hours=1), now=LATER, dry_run=True
    )
    assert sorted(dry.removed) == sorted([orphan, stray]) and runtime.blobs.exists(orphan)

    done = collect_garbage(runtime.catalog, runtime.blobs, grace=timedelta(hours=1), now=LATER)
    assert sorted(done.removed) == sorted([orphan, stray])
    assert not runtime.blobs.exists(orphan) and not runtime.blobs.exists(stray)
    assert runtime.blobs.exists(kept["blob_key"]) and runtime.blobs.exists(elsewhere)


def test_an_input_deleted_at_its_source_leaves_counts_searches_and_new_versions(
    runtime: Runtime,
) -> None:
    """The drop-zone runner marks an input whose object was deleted (`deleted_at`,
    tests/connectors/test_dropzone_watch.py); every reader must then leave it out."""
    seed(runtime)
    s = runtime.settings
    v1 = snapshot(runtime, "v1").version
    with runtime.catalog.begin() as conn:
        conn.execute(
            text("UPDATE inputs SET deleted_at = :now WHERE id = 'img-b'"), {"now": LATER}
        )
    assert "img-b" not in ids_of(runtime, dataset_id=DATASET)
    counts = {d["id"]: d for d in runtime.catalog.list_datasets(s.user_id, s.app_id)}
    assert counts[DATASET]["inputs_count"] == len(ids_of(runtime, dataset_id=DATASET))
    v2 = snapshot(runtime, "v2").version
    assert v1.metrics is not None and v2.metrics is not None
    assert v2.metrics["inputs_count"] == v1.metrics["inputs_count"] - 1
    assert "img-b" not in runtime.blobs.get(v2.manifest_key or "").decode()
