"""Annotations through serve: the SDK's detection upload, regions on PostInputs, and
PostAnnotations / ListAnnotations / PatchAnnotations / DeleteAnnotation(s) with their codes."""

from __future__ import annotations

from pathlib import Path

from clarifai.client.dataset import Dataset
from clarifai.datasets.upload.base import ClarifaiDataLoader
from clarifai.datasets.upload.features import VisualDetectionFeatures
from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc

from pipeline.keys import Scope
from pipeline.status import StatusCode
from tests.api.conftest import Server
from tests.api.test_grpc import APP, _meta, _stub
from tests.support.media import gradient_image

_BOXES = {  # image -> (label, [xmin, ymin, xmax, ymax]) as the SDK's loaders give them
    0: [("cat", [0.1, 0.2, 0.5, 0.6]), ("dog", [0.5, 0.5, 0.9, 0.95])],
    1: [("cat", [0.0, 0.0, 1.0, 1.0])],
    2: [("dog", [0.25, 0.1, 0.75, 0.3])],
}


class _Boxes(ClarifaiDataLoader):  # type: ignore[misc]
    def __init__(self, folder: Path) -> None:
        self.paths = []
        for n in _BOXES:
            path = folder / f"img{n}.png"
            path.write_bytes(gradient_image((40 + n, 30)))
            self.paths.append(path)

    @property
    def task(self) -> str:
        return "visual_detection"

    def load_data(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, n: int) -> VisualDetectionFeatures:
        labels = [label for label, _ in _BOXES[n]]
        return VisualDetectionFeatures(
            str(self.paths[n]), labels, [box for _, box in _BOXES[n]], id=n
        )


def _box(region: dict) -> list[float]:
    b = region["region_info"]["bounding_box"]
    return [round(b[k], 4) for k in ("left_col", "top_row", "right_col", "bottom_row")]


def test_sdk_upload_dataset_with_boxes_stores_annotations(api: Server, tmp_path: Path) -> None:
    dataset = Dataset(
        user_id="me", app_id="main", dataset_id="boxes", base_url=api.grpc_base, pat=api.secret
    )
    dataset.upload_dataset(dataloader=_Boxes(tmp_path))
    catalog = api.served.runtime.catalog
    inputs = {r["id"]: r for r in catalog.iter_inputs("me", "main")}
    assert sorted(inputs) == ["boxes-0", "boxes-1", "boxes-2"]
    assert {r["status_code"] for r in inputs.values()} == {StatusCode.INPUT_SUCCESS}
    stored = catalog.annotations.list("me", "main", limit=100).annotations
    got = sorted(
        (
            a["input_id"],
            a["data"]["regions"][0]["data"]["concepts"][0]["id"],
            _box(a["data"]["regions"][0]),
        )
        for a in stored
    )
    want = sorted((f"boxes-{n}", label, box) for n, boxes in _BOXES.items() for label, box in boxes)
    assert got == want  # each box once, with its label, at its place (a 0.0 edge kept)


def _image_input(input_id: str, *regions: res.Region) -> res.Input:
    return res.Input(
        id=input_id,
        data=res.Data(image=res.Image(base64=gradient_image((30, 20))), regions=list(regions)),
    )


def _region(label: str, top: float, left: float, bottom: float, right: float) -> res.Region:
    return res.Region(
        region_info=res.RegionInfo(
            bounding_box=res.BoundingBox(
                top_row=top, left_col=left, bottom_row=bottom, right_col=right
            )
        ),
        data=res.Data(concepts=[res.Concept(id=label, value=1.0)]),
    )


def test_regions_on_post_inputs_and_the_annotation_methods(api: Server) -> None:
    stub, meta = _stub(api), _meta(api.secret)
    catalog = api.served.runtime.catalog
    resp = stub.PostInputs(
        svc.PostInputsRequest(
            user_app_id=APP,
            inputs=[
                _image_input(
                    "a", _region("cat", 0.0, 0.0, 0.5, 0.5), _region("dog", 0.5, 0.5, 1, 1)
                ),
                _image_input("upside-down", _region("cat", 0.8, 0.1, 0.2, 0.5)),  # top below bottom
            ],
        ),
        metadata=meta,
    )
    assert resp.status.code == StatusCode.MIXED_STATUS
    assert resp.inputs[0].status.code == StatusCode.INPUT_SUCCESS
    assert resp.inputs[1].status.code == StatusCode.ANNOTATION_INVALID_ARGUMENT
    assert "top_row" in resp.inputs[1].status.details
    on_a = catalog.annotations.list("me", "main", input_ids=["a"]).annotations
    assert sorted(_box(a["data"]["regions"][0]) for a in on_a) == [
        [0, 0, 0.5, 0.5],
        [0.5, 0.5, 1, 1],
    ]

    # PostAnnotations: each annotation answered; a bad one fails alone, nothing half-written.
    post = stub.PostAnnotations(
        svc.PostAnnotationsRequest(
            user_app_id=APP,
            annotations=[
                res.Annotation(
                    id="bird1",
                    input_id="a",
                    data=res.Data(regions=[_region("bird", 0.1, 0.1, 0.2, 0.2)]),
                ),
                res.Annotation(
                    input_id="a", data=res.Data(regions=[_region("x", 0.1, 0.1, 1.5, 0.2)])
                ),
                res.Annotation(
                    input_id="nope", data=res.Data(concepts=[res.Concept(id="y", value=1)])
                ),
                res.Annotation(
                    input_id="a", data=res.Data(embeddings=[res.Embedding(vector=[1.0])])
                ),
            ],
        ),
        metadata=meta,
    )
    assert post.status.code == StatusCode.MIXED_STATUS
    codes = [a.status.code for a in post.annotations]
    assert codes == [
        StatusCode.ANNOTATION_SUCCESS,
        StatusCode.ANNOTATION_INVALID_ARGUMENT,
        StatusCode.INPUT_DOES_NOT_EXIST,
        StatusCode.ANNOTATION_INVALID_ARGUMENT,
    ]
    assert "embeddings" in post.annotations[3].status.details
    assert post.annotations[0].id == "bird1" and post.annotations[0].input_id == "a"
    assert post.annotations[0].data.regions[0].region_info.bounding_box.bottom_row > 0.19

    listed = stub.ListAnnotations(
        svc.ListAnnotationsRequest(user_app_id=APP, input_ids=["a"], per_page=2, page=2),
        metadata=meta,
    )
    assert listed.status.code == StatusCode.SUCCESS and len(listed.annotations) == 1
    everything = stub.ListAnnotations(
        svc.ListAnnotationsRequest(user_app_id=APP, input_ids=["a"]), metadata=meta
    )
    assert len(everything.annotations) == 3 and "bird1" in {a.id for a in everything.annotations}
    by_id = stub.ListAnnotations(
        svc.ListAnnotationsRequest(user_app_id=APP, ids=["bird1", "zz"]), metadata=meta
    )
    assert [a.id for a in by_id.annotations] == ["bird1"]
    unsupported = stub.ListAnnotations(
        svc.ListAnnotationsRequest(user_app_id=APP, model_version_ids=["m"]), metadata=meta
    )
    assert unsupported.status.code == StatusCode.CONN_INVALID_REQUEST

    # PatchAnnotations: merge adds a concept to the region; unknown ids 404 per annotation.
    patched = stub.PatchAnnotations(
        svc.PatchAnnotationsRequest(
            user_app_id=APP,
            action="overwrite",
            annotations=[
                res.Annotation(
                    id="bird1",
                    input_id="a",
                    data=res.Data(regions=[_region("owl", 0.3, 0.3, 0.4, 0.4)]),
                ),
                res.Annotation(id="ghost", data=res.Data(concepts=[res.Concept(id="z", value=1)])),
            ],
        ),
        metadata=meta,
    )
    assert [a.status.code for a in patched.annotations] == [
        StatusCode.ANNOTATION_MODIFY_SUCCESS,
        StatusCode.CONN_DOES_NOT_EXIST,
    ]
    row = catalog.annotations.by_ids("me", "main", ["bird1"])[0]
    assert row["data"]["regions"][0]["data"]["concepts"][0]["id"] == "owl"

    # DeleteAnnotation must name the annotation's own input; DeleteAnnotations by input ids.
    wrong = stub.DeleteAnnotation(
        svc.DeleteAnnotationRequest(user_app_id=APP, input_id="other", annotation_id="bird1"),
        metadata=meta,
    )
    assert wrong.status.code == StatusCode.CONN_DOES_NOT_EXIST
    assert catalog.annotations.by_ids("me", "main", ["bird1"])
    gone = stub.DeleteAnnotation(
        svc.DeleteAnnotationRequest(user_app_id=APP, input_id="a", annotation_id="bird1"),
        metadata=meta,
    )
    assert gone.status.code == StatusCode.SUCCESS
    assert not catalog.annotations.by_ids("me", "main", ["bird1"])
    bulk = stub.DeleteAnnotations(
        svc.DeleteAnnotationsRequest(user_app_id=APP, input_ids=["a"]), metadata=meta
    )
    assert bulk.status.code == StatusCode.SUCCESS
    assert catalog.annotations.list("me", "main", input_ids=["a"]).annotations == []
    assert catalog.get_input("me", "main", "a") is not None  # the input stays


def test_annotation_scopes(api: Server) -> None:
    stub = _stub(api)
    reader = api.key([Scope.GET_ANNOTATIONS])
    request = svc.PostAnnotationsRequest(
        user_app_id=APP,
        annotations=[res.Annotation(input_id="a", data=res.Data(concepts=[res.Concept(id="c")]))],
    )
    assert (
        stub.PostAnnotations(request, metadata=_meta(reader)).status.code
        == StatusCode.CONN_INSUFFICIENT_SCOPES
    )
    listed = stub.ListAnnotations(
        svc.ListAnnotationsRequest(user_app_id=APP), metadata=_meta(reader)
    )
    assert listed.status.code == StatusCode.SUCCESS
