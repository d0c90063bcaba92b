"""Dataset edits through serve: PatchDatasets (metadata and default filter by action),
PostDatasetInputs / DeleteDatasetInputs per input, DeleteDatasets and DeleteDatasetVersions
(the SDK's own `App.delete_dataset` and `Dataset.delete_version`)."""

from __future__ import annotations

from clarifai.client.app import App
from clarifai.client.dataset import Dataset
from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc
from google.protobuf import struct_pb2

from pipeline.status import StatusCode
from tests.api.conftest import Server
from tests.api.test_grpc import APP, _meta, _stub, _text
from tests.support.kafka_harness import wait_for


def _filter(*users: str) -> res.AnnotationFilter:
    config = res.AnnotationFilter()
    for user in users:
        config.search.query.filters.add().annotation.user_id = user
    return config


def _meta_struct(value: dict) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def test_patch_datasets_by_action(api: Server) -> None:
    stub, meta = _stub(api), _meta(api.secret)
    post = svc.PostDatasetsRequest(
        user_app_id=APP,
        datasets=[res.Dataset(id="ds", description="old", metadata=_meta_struct({"a": 1, "b": 2}))],
    )
    assert stub.PostDatasets(post, metadata=meta).status.code == StatusCode.SUCCESS

    def patch(action: str, **fields: object) -> svc.MultiDatasetResponse:
        request = svc.PatchDatasetsRequest(
            user_app_id=APP, action=action, datasets=[res.Dataset(id="ds", **fields)]
        )
        return stub.PatchDatasets(request, metadata=meta)

    merged = patch(
        "merge", metadata=_meta_struct({"c": 3}), default_annotation_filter=_filter("ann")
    )
    assert merged.status.code == StatusCode.SUCCESS
    assert dict(merged.datasets[0].metadata) == {"a": 1, "b": 2, "c": 3}
    more = patch("merge", default_annotation_filter=_filter("bob"))
    config = more.datasets[0].default_annotation_filter
    users = [f.annotation.user_id for f in config.search.query.filters]
    assert users == ["ann", "bob"]
    over = patch("overwrite", description="new", default_annotation_filter=_filter("cy"))
    row = api.served.runtime.catalog.get_dataset("me", "main", "ds")
    assert over.datasets[0].description == "new" and row["description"] == "new"
    assert row["default_filter"]["annotation_filter"]["user_ids"] == ["cy"]
    removed = patch(
        "remove", metadata=_meta_struct({"a": True}), default_annotation_filter=_filter()
    )
    row = api.served.runtime.catalog.get_dataset("me", "main", "ds")
    assert removed.status.code == StatusCode.SUCCESS
    assert row["metadata"] == {"b": 2, "c": 3} and row["default_filter"] is None

    # A filter part ingestd cannot apply is refused by name, and nothing changes.
    bad = _filter("dee")
    bad.search.query.filters.add().input.id = "x"
    refused = patch("overwrite", description="not applied", default_annotation_filter=bad)
    assert refused.status.code == StatusCode.SEARCH_INVALID_REQUEST
    assert "filters[1].input" in refused.status.details
    assert api.served.runtime.catalog.get_dataset("me", "main", "ds")["description"] == "new"
    missing = stub.PatchDatasets(
        svc.PatchDatasetsRequest(
            user_app_id=APP, datasets=[res.Dataset(id="nope", description="x")]
        ),
        metadata=meta,
    )
    assert missing.status.code == StatusCode.CONN_DOES_NOT_EXIST
    bad_action = patch("append", description="x")
    assert bad_action.status.code == StatusCode.METADATA_INVALID_PATCH_ARGUMENTS


def test_dataset_inputs_delete_dataset_and_versions(api: Server) -> None:
    stub, meta = _stub(api), _meta(api.secret)
    catalog = api.served.runtime.catalog
    posted = stub.PostInputs(
        svc.PostInputsRequest(
            user_app_id=APP, inputs=[_text(f"t{n}", f"text {n}") for n in range(4)]
        ),
        metadata=meta,
    )
    assert posted.status.code == StatusCode.SUCCESS
    stub.PostDatasets(
        svc.PostDatasetsRequest(user_app_id=APP, datasets=[res.Dataset(id="ds")]), metadata=meta
    )

    def add(*ids: str) -> svc.MultiDatasetInputResponse:
        items = [res.DatasetInput(input=res.Input(id=i)) for i in ids]
        request = svc.PostDatasetInputsRequest(
            user_app_id=APP, dataset_id="ds", dataset_inputs=items
        )
        return stub.PostDatasetInputs(request, metadata=meta)

    first = add("t0", "t1", "t2")
    assert first.status.code == StatusCode.SUCCESS
    again = add("t2", "t3", "ghost")
    assert again.status.code == StatusCode.MIXED_STATUS
    assert [d.input.status.code for d in again.dataset_inputs] == [
        StatusCode.DATASET_INPUT_DUPLICATE,
        StatusCode.DATASET_INPUT_SUCCESS,
        StatusCode.INPUT_DOES_NOT_EXIST,
    ]
    assert catalog.inputs.dataset_input_ids("me", "main", "ds") == ["t0", "t1", "t2", "t3"]

    removed = stub.DeleteDatasetInputs(
        svc.DeleteDatasetInputsRequest(user_app_id=APP, dataset_id="ds", input_ids=["t0", "t1"]),
        metadata=meta,
    )
    assert removed.status.code == StatusCode.SUCCESS
    assert catalog.inputs.dataset_input_ids("me", "main", "ds") == ["t2", "t3"]
    assert catalog.get_input("me", "main", "t0") is not None  # the input stays

    dataset = Dataset(
        user_id="me", app_id="main", dataset_id="ds", base_url=api.grpc_base, pat=api.secret
    )
    version_id = dataset.create_version(description="v").version.id

    def ready() -> bool:
        row = catalog.versions.get_version("me", "main", version_id)
        return row is not None and row.status_code == StatusCode.DATASET_VERSION_READY

    wait_for(ready, 60, "the version to be ready", every=0.2)
    wrong = stub.DeleteDatasetVersions(
        svc.DeleteDatasetVersionsRequest(
            user_app_id=APP, dataset_id="other", dataset_version_ids=[version_id]
        ),
        metadata=meta,
    )
    assert wrong.status.code == StatusCode.CONN_DOES_NOT_EXIST
    assert catalog.versions.get_version("me", "main", version_id) is not None
    dataset.delete_version(version_id)
    assert catalog.versions.get_version("me", "main", version_id) is None
    assert not list(api.served.runtime.blobs.keys(f"versions/me/main/ds/{version_id}"))

    app = App(user_id="me", app_id="main", base_url=api.grpc_base, pat=api.secret)
    app.delete_dataset("ds")
    assert catalog.get_dataset("me", "main", "ds") is None
    assert len(list(catalog.iter_inputs("me", "main"))) == 4  # inputs stay
    gone = stub.DeleteDatasets(
        svc.DeleteDatasetsRequest(user_app_id=APP, dataset_ids=["ds"]), metadata=meta
    )
    assert gone.status.code == StatusCode.CONN_DOES_NOT_EXIST
