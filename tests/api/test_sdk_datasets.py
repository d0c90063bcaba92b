"""The official SDK's CSV and folder uploads, dataset versions and exports against serve."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from clarifai.client.dataset import Dataset
from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc

from pipeline.status import StatusCode
from tests.api.conftest import Server
from tests.api.test_grpc import APP, _meta, _stub
from tests.api.test_sdk import _labelled_folder
from tests.support.kafka_harness import wait_for

_PER_LABEL = 100  # 300 images: a few hundred, in well under a minute on 2 cores


def _dataset(api: Server, dataset_id: str) -> Dataset:
    return Dataset(
        user_id="me", app_id="main", dataset_id=dataset_id, base_url=api.grpc_base, pat=api.secret
    )


def test_upload_from_csv(api: Server, tmp_path: Path) -> None:
    path = tmp_path / "texts.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f, quoting=csv.QUOTE_ALL)
        out.writerow(["inputid", "input", "concepts", "metadata", "geopoints"])
        for n in range(30):
            label = "good,fresh" if n % 2 else "bad"
            out.writerow([f"t{n:02d}", f"review {n}", label, f"{{'n': {n}}}", f"2.35,48.{n:02d}"])
    _dataset(api, "reviews").upload_from_csv(
        csv_path=str(path), input_type="text", csv_type="raw", labels=True
    )
    catalog = api.served.runtime.catalog
    rows = {r["id"]: r for r in catalog.iter_inputs("me", "main")}
    assert sorted(rows) == [f"t{n:02d}" for n in range(30)]
    assert {r["status_code"] for r in rows.values()} == {StatusCode.INPUT_SUCCESS}
    assert [c["id"] for c in rows["t01"]["concepts"]] == ["good", "fresh"]
    assert [c["id"] for c in rows["t02"]["concepts"]] == ["bad"]
    assert rows["t07"]["metadata"] == {"n": 7}
    point = rows["t07"]["geo"]["geo_point"]  # the SDK's "longitude,latitude"
    assert (point["longitude"], point["latitude"]) == pytest.approx((2.35, 48.07))  # float32
    assert len(catalog.list_inputs("me", "main", dataset_id="reviews", limit=100)) == 30


def test_folder_upload_version_and_export(api: Server, tmp_path: Path) -> None:
    dataset = _dataset(api, "pets")
    for n, label in enumerate(("cat", "dog", "bird")):
        folder = _labelled_folder(tmp_path / "images", label, _PER_LABEL, 60 * n)
        dataset.upload_from_folder(folder_path=str(folder), input_type="image", labels=True)
    catalog = api.served.runtime.catalog
    rows = list(catalog.iter_inputs("me", "main"))
    assert len(rows) == 3 * _PER_LABEL  # every input stored exactly once
    assert {r["status_code"] for r in rows} == {StatusCode.INPUT_SUCCESS}
    assert {r["concepts"][0]["id"] for r in rows} == {"cat", "dog", "bird"}

    version = dataset.create_version(description="first")
    version_id = version.version.id

    def ready() -> bool:
        row = catalog.versions.get_version("me", "main", version_id)
        return row is not None and row.status_code == StatusCode.DATASET_VERSION_READY

    wait_for(ready, 60, "the version to be ready", every=0.2)
    stub, meta = _stub(api), _meta(api.secret)
    got = stub.GetDatasetVersion(
        svc.GetDatasetVersionRequest(
            user_app_id=APP, dataset_id="pets", dataset_version_id=version_id
        ),
        metadata=meta,
    ).dataset_version
    metrics = got.metrics["/"]
    assert metrics.inputs_count.value == 3 * _PER_LABEL
    assert metrics.positive_input_tags_count.value == 3 * _PER_LABEL
    assert metrics.unlabeled_inputs_count.value == 0
    assert [v.version.id for v in dataset.list_versions()] == [version_id]

    request = svc.PutDatasetVersionExportsRequest(
        user_app_id=APP,
        dataset_id="pets",
        dataset_version_id=version_id,
        exports=[
            res.DatasetVersionExport(format=res.CLARIFAI_DATA_JSON),
            res.DatasetVersionExport(format=res.COCO),
        ],
    )
    exports = stub.PutDatasetVersionExports(request, metadata=meta)
    assert exports.status.code == StatusCode.SUCCESS
    assert [e.status.code for e in exports.exports] == [64200, 64200]
    assert all(api.served.runtime.blobs.exists(e.url) for e in exports.exports)
    # The SDK's own export asks for CLARIFAI_DATA_PROTOBUF: its zip is downloaded from serve's
    # HTTP port (tests/api/test_sdk_export.py follows it to the media).
    assert version.archive_zip(wait=False).startswith(f"{api.http_base}/v2/users/me/apps/main/")
