"""What an upload may not do with the store and the catalog: name another app's blobs, or
carry numbers no JSON column can hold. Each such input fails alone with a message."""

from __future__ import annotations

from ingestd.app.runtime import Runtime
from pipeline.events import UploadRequest
from pipeline.models import Annotation, Data, Input, Media, Text
from pipeline.status import StatusCode
from tests.pipeline.test_ingest import codes, image_input
from tests.support.storage import image_bytes


def test_an_upload_names_only_its_own_apps_blobs(runtime: Runtime) -> None:
    """A blob key is a way to send bytes already in the store (the producer client and the
    importers stage large files so); it must not read another app's media or any other blob."""
    first = UploadRequest(app_id="a", inputs=[image_input("x", image_bytes())])
    mine = runtime.ingest.handle(first)
    assert codes(mine) == {"x": StatusCode.INPUT_SUCCESS}
    row = runtime.catalog.get_input("me", "a", "x")
    assert row is not None and row["blob_key"].startswith("media/me/a/")
    theirs = row["blob_key"]
    inputs = [
        Input(id="steal", data=Data(image=Media(blob_key=theirs))),
        Input(id="climb", data=Data(image=Media(blob_key="media/me/b/../a/" + theirs[10:]))),
        Input(id="other", data=Data(image=Media(blob_key="versions/me/a/x.jsonl"))),
        Input(id="own", data=Data(image=Media(blob_key=theirs.replace("/me/a/", "/me/b/")))),
        Input(id="their-claim", data=Data(image=Media(blob_key="uploads/me/a/x.jpg"))),
        Input(id="my-claim", data=Data(image=Media(blob_key="uploads/me/b/x.jpg"))),
    ]
    runtime.blobs.put(theirs.replace("/me/a/", "/me/b/"), runtime.blobs.get(theirs))
    for claim in ("uploads/me/a/x.jpg", "uploads/me/b/x.jpg"):  # a service's claim checks
        runtime.blobs.put(claim, runtime.blobs.get(theirs))
    result = runtime.ingest.handle(UploadRequest(app_id="b", inputs=inputs))
    assert codes(result) == {
        "steal": StatusCode.INPUT_DOES_NOT_EXIST,
        "climb": StatusCode.INPUT_DOES_NOT_EXIST,
        "other": StatusCode.INPUT_DOES_NOT_EXIST,
        "own": StatusCode.INPUT_SUCCESS,
        "their-claim": StatusCode.INPUT_DOES_NOT_EXIST,
        "my-claim": StatusCode.INPUT_SUCCESS,
    }
    failed = runtime.catalog.get_input("me", "b", "steal")
    assert failed is None or failed["blob_key"] is None  # nothing of app a's reached app b


def test_numbers_json_cannot_carry_fail_their_input_only(runtime: Runtime) -> None:
    """1e999 parses as Infinity (and NaN as NaN): no JSON column can hold them. The input is
    refused with a message; the rest of the request is stored; nothing reaches the catalog."""
    text = Data(text=Text(raw="fine"))
    inf = Data(text=Text(raw="x"), metadata={"a": float("inf")})
    nan = Data(text=Text(raw="y"), metadata={"b": [1, {"c": float("nan")}]})
    info = Input(
        id="info",
        data=Data(text=Text(raw="z")),
        annotations=[Annotation(annotation_info={"score": float("inf")})],
    )
    request = UploadRequest(
        inputs=[
            Input(id="ok", data=text),
            Input(id="inf", data=inf),
            Input(id="nan", data=nan),
            info,
        ]
    )
    result = runtime.ingest.handle(request)
    got = codes(result)
    assert got["ok"] == StatusCode.INPUT_SUCCESS
    assert got["inf"] == got["nan"] == StatusCode.INPUT_INVALID_ARGUMENT
    assert got["info"] == StatusCode.ANNOTATION_INVALID_ARGUMENT
    messages = {o.input_id: o.message for o in result.outcomes}
    assert "Infinity" in messages["inf"] and "string" in messages["nan"]
