"""The ingest stage on every catalog × blob-store combination."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from datetime import UTC, datetime

import pytest

from ingestd.app.runtime import Runtime
from pipeline.annotation_changes import AnnotationAction, annotation_record, prepare_annotations
from pipeline.errors import InputError
from pipeline.events import UploadRequest
from pipeline.ids import derived_id, fingerprint
from pipeline.models import (
    Annotation,
    AnnotationData,
    Concept,
    ConflictResolution,
    Data,
    Frame,
    FrameInfo,
    Input,
    Media,
    Point,
    Polygon,
    Region,
    RegionInfo,
    Text,
)
from pipeline.records import Action
from pipeline.status import StatusCode
from tests.support.annotations import box_annotation
from tests.support.media import video_bytes
from tests.support.storage import image_bytes


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def image_input(input_id: str, data: bytes, **kw: object) -> Input:
    return Input(id=input_id, data=Data(image=Media(base64=b64(data)), **kw))  # type: ignore[arg-type]


def lying_png(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose header claims width x height."""
    png = image_bytes("PNG", (1, 1))
    ihdr = struct.pack(">II", width, height) + png[24:29]
    chunk = b"IHDR" + ihdr
    return png[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]


def wav_bytes(seconds: float = 0.1) -> bytes:
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * int(8000 * seconds))
    return buf.getvalue()


def codes(result) -> dict[str, StatusCode]:
    return {o.requested_id: o.code for o in result.outcomes}


def test_good_and_bad_inputs_in_one_batch(runtime: Runtime) -> None:
    # The refusal path (INGESTD_LIMITS__OVERSIZED=refuse): a 90 MP image and MP3 audio are
    # refused here; with the default "split" they go to the media stage (test_media_stage.py).
    runtime.ingest.limits = runtime.ingest.limits.model_copy(update={"oversized": "refuse"})
    jpeg = image_bytes("JPEG")
    deep: dict = {}
    node = deep
    for _ in range(30):
        node["x"] = {}
        node = node["x"]
    request = UploadRequest(
        inputs=[
            image_input("good-jpeg", jpeg, concepts=[Concept(id="cat")]),
            image_input("good-gif", image_bytes("GIF")),
            Input(id="good-text", data=Data(text=Text(raw="hello world"))),
            Input(id="good-wav", data=Data(audio=Media(base64=b64(wav_bytes())))),
            image_input("truncated", jpeg[: len(jpeg) // 2]),
            image_input("pdf", b"%PDF-1.4 not an image"),
            Input(id="bad-b64", data=Data(image=Media(base64="@@@not base64@@@"))),
            image_input("liar", lying_png(20_000, 20_000)),
            image_input("fibber", lying_png(10_000, 9_000)),
            image_input("deep-meta", jpeg, metadata=deep),
            image_input("has/slash", jpeg),
            image_input("ctrl\x07char", jpeg),
            Input(id="mp3", data=Data(audio=Media(base64=b64(b"ID3" + b"\x00" * 100)))),
            Input(id="vid-gif", data=Data(video=Media(base64=b64(image_bytes("GIF"))))),
            Input(id="no-blob", data=Data(image=Media(blob_key="media/nope/x.jpg"))),
        ]
    )
    result = runtime.ingest.handle(request)
    got = codes(result)
    assert got == {
        "good-jpeg": StatusCode.INPUT_SUCCESS,
        "good-gif": StatusCode.INPUT_SUCCESS,
        "good-text": StatusCode.INPUT_SUCCESS,
        "good-wav": StatusCode.INPUT_SUCCESS,
        "truncated": StatusCode.INPUT_FAILED,
        "pdf": StatusCode.INPUT_UNSUPPORTED_FORMAT,
        "bad-b64": StatusCode.INPUT_INVALID_ARGUMENT,
        "liar": StatusCode.INPUT_OVER_LIMIT,
        "fibber": StatusCode.INPUT_OVER_LIMIT,
        "deep-meta": StatusCode.INPUT_INVALID_ARGUMENT,
        "has/slash": StatusCode.INPUT_INVALID_ARGUMENT,
        "ctrl\x07char": StatusCode.INPUT_INVALID_ARGUMENT,
        "mp3": StatusCode.INPUT_UNSUPPORTED_FORMAT,
        "vid-gif": StatusCode.INPUT_VIDEO_UNSUPPORTED_FORMAT,
        "no-blob": StatusCode.INPUT_DOES_NOT_EXIST,
    }
    messages = {o.requested_id: o.message for o in result.outcomes}
    assert "decompression bomb" in messages["liar"] and "400000000 pixels" in messages["liar"]
    assert "10000x9000 = 90.0 megapixels" in messages["fibber"]
    assert "PDF" in messages["pdf"]
    assert "nests 31 levels" in messages["deep-meta"]

    s = runtime.settings
    stored = {r["id"]: r for r in runtime.catalog.list_inputs(s.user_id, s.app_id, limit=100)}
    # Good inputs have their media; failed ones are recorded without any (ids we refuse are not).
    for input_id in ("good-jpeg", "good-gif", "good-text", "good-wav"):
        row = stored[input_id]
        assert row["status_code"] == StatusCode.INPUT_SUCCESS
        assert hashlib.sha256(runtime.blobs.get(row["blob_key"])).hexdigest() == row["sha256"]
    assert stored["good-jpeg"]["format"] == "JPEG" and stored["good-jpeg"]["width"] == 64
    assert stored["truncated"]["status_code"] == StatusCode.INPUT_FAILED
    assert stored["truncated"]["blob_key"] is None
    assert "has/slash" not in stored and "ctrl\x07char" not in stored
    assert len(list(runtime.blobs.keys("media/"))) == 4
    counts = runtime.catalog.input_counts(s.user_id, s.app_id)
    # The two refused ids count as errors although they are not stored as inputs.
    assert counts == {"processed": 4, "to_process": 0, "processing": 0, "errors": 11}


def test_replayed_request_writes_nothing_new(runtime: Runtime) -> None:
    request = UploadRequest(
        inputs=[
            image_input(f"img-{n}", image_bytes(color=c)) for n, c in enumerate(("red", "blue"))
        ],
        dataset_ids=["ds"],
    )
    first = runtime.ingest.handle(request)
    assert [o.action for o in first.outcomes] == [Action.CREATED, Action.CREATED]
    s = runtime.settings
    before = runtime.catalog.list_inputs(s.user_id, s.app_id)
    again = runtime.ingest.handle(request)
    assert again.replayed and again.blobs_written == 0
    # A new request with the same content: every input unchanged, rows untouched.
    fresh = runtime.ingest.handle(request.model_copy(update={"request_id": "another"}))
    assert [o.action for o in fresh.outcomes] == [Action.UNCHANGED, Action.UNCHANGED]
    assert fresh.blobs_written == 0
    assert runtime.catalog.list_inputs(s.user_id, s.app_id) == before


def test_conflicts_skip_and_suffix(runtime: Runtime) -> None:
    s = runtime.settings
    runtime.ingest.handle(UploadRequest(inputs=[image_input("same", image_bytes(color="red"))]))
    blue = image_input("same", image_bytes(color="blue"))
    skipped = runtime.ingest.handle(UploadRequest(inputs=[blue]))
    assert skipped.outcomes[0].action is Action.SKIPPED
    assert skipped.outcomes[0].code is StatusCode.DATABASE_DUPLICATE_KEY
    suffixed = runtime.ingest.handle(
        UploadRequest(inputs=[blue], conflict_resolution=ConflictResolution.SUFFIX)
    )
    assert (suffixed.outcomes[0].action, suffixed.outcomes[0].input_id) == (
        Action.CREATED,
        "same-1",
    )
    again = runtime.ingest.handle(  # another request (same content, so its own id)
        UploadRequest(
            request_id="again", inputs=[blue], conflict_resolution=ConflictResolution.SUFFIX
        )
    )
    assert (again.outcomes[0].action, again.outcomes[0].input_id) == (Action.UNCHANGED, "same-1")
    ids = [r["id"] for r in runtime.catalog.list_inputs(s.user_id, s.app_id)]
    assert ids == ["same", "same-1"]


def test_failed_retry_never_overwrites_a_good_input_but_a_fix_replaces_a_failure(
    runtime: Runtime,
) -> None:
    s = runtime.settings
    jpeg = image_bytes()
    runtime.ingest.handle(
        UploadRequest(inputs=[image_input("good", jpeg), image_input("bad", jpeg[:50])])
    )
    result = runtime.ingest.handle(
        UploadRequest(inputs=[image_input("good", jpeg[:50]), image_input("bad", jpeg)])
    )
    assert [o.action for o in result.outcomes] == [Action.FAILED, Action.UPDATED]
    rows = {r["id"]: r["status_code"] for r in runtime.catalog.list_inputs(s.user_id, s.app_id)}
    assert rows == {"good": StatusCode.INPUT_SUCCESS, "bad": StatusCode.INPUT_SUCCESS}


def test_annotations_and_datasets_are_stored(runtime: Runtime) -> None:
    s = runtime.settings
    box = box_annotation(
        (0.1, 0.2, 0.5, 0.6),
        user_id="labeler-7",
        status="ANNOTATION_AWAITING_REVIEW",  # type: ignore[arg-type]
        task_id="task-1",
        annotation_info={"tool": "bbox"},
    )
    poly = Annotation(
        data=AnnotationData(
            regions=[
                Region(
                    region_info=RegionInfo(
                        polygon=Polygon(
                            points=[
                                Point(row=0.1, col=0.1),
                                Point(row=0.2, col=0.5),
                                Point(row=0.6, col=0.3),
                            ]
                        )
                    )
                )
            ]
        )
    )
    frame = Annotation(data=AnnotationData(frames=[Frame(frame_info=FrameInfo(index=3, time=120))]))
    item = image_input(
        "annotated", image_bytes(), concepts=[Concept(id="cat"), Concept(id="dog", value=0)]
    )
    item.annotations = [box, poly, frame]
    item.dataset_ids = ["extra"]
    runtime.ingest.handle(UploadRequest(inputs=[item], dataset_ids=["main-set"]))
    got = runtime.catalog.get_input(s.user_id, s.app_id, "annotated")
    assert got is not None
    assert got["dataset_ids"] == ["extra", "main-set"]
    anns = got["annotations"]
    assert len(anns) == 4  # the input-level annotation plus three sent
    by_user = {a["annotation_user_id"]: a for a in anns}
    assert by_user["labeler-7"]["status"] == "ANNOTATION_AWAITING_REVIEW"
    assert by_user["labeler-7"]["task_id"] == "task-1"
    bbox = by_user["labeler-7"]["data"]["regions"][0]["region_info"]["bounding_box"]
    assert bbox == {"top_row": 0.1, "left_col": 0.2, "bottom_row": 0.5, "right_col": 0.6}
    input_level = [a for a in anns if a["data"].get("concepts")]
    assert input_level[0]["data"]["concepts"] == [
        {"id": "cat", "value": 1.0},
        {"id": "dog", "value": 0.0},
    ]


def test_limits_and_batch_rules(runtime: Runtime) -> None:
    runtime.ingest.limits = runtime.ingest.limits.model_copy(update={"image_bytes": 500})
    big = image_bytes(size=(300, 300), color="green")
    gif = image_bytes("GIF")
    mp4 = video_bytes(seconds=1.0, size="64x48", audio=False)  # videos are probed now
    request = UploadRequest(
        inputs=[
            image_input("too-big", big),
            image_input("small", gif),
            Input(id="video-1", data=Data(video=Media(base64=b64(mp4)))),
            Input(id="video-2", data=Data(video=Media(base64=b64(mp4)))),
        ]
    )
    result = runtime.ingest.handle(request)
    got = codes(result)
    # Over the byte limit: stored whole and handed to the media stage to be downscaled.
    assert got["too-big"] is StatusCode.INPUT_PENDING
    assert [t.input_id for t in result.follow_ups] == ["too-big"]  # type: ignore[attr-defined]
    assert got["small"] is StatusCode.INPUT_SUCCESS
    assert got["video-1"] is StatusCode.INPUT_SUCCESS
    assert got["video-2"] is StatusCode.INPUT_VIDEO_INVALID_ARGUMENT
    with pytest.raises(InputError) as err:
        runtime.ingest.handle(UploadRequest(inputs=[image_input(f"i{n}", gif) for n in range(129)]))
    assert err.value.code is StatusCode.INPUT_INVALID_REQUEST


def test_the_same_id_twice_in_one_request(runtime: Runtime) -> None:
    twice = [
        image_input("dup", image_bytes(color="red")),
        image_input("dup", image_bytes(color="blue")),
    ]
    skip = runtime.ingest.handle(UploadRequest(inputs=twice))
    assert [(o.action, o.input_id) for o in skip.outcomes] == [
        (Action.CREATED, "dup"),
        (Action.SKIPPED, "dup"),
    ]
    assert "appears earlier in this request" in skip.outcomes[1].message
    suffix = runtime.ingest.handle(
        UploadRequest(inputs=twice, conflict_resolution=ConflictResolution.SUFFIX)
    )
    assert [(o.action, o.input_id) for o in suffix.outcomes] == [
        (Action.UNCHANGED, "dup"),
        (Action.CREATED, "dup-1"),
    ]


def test_create_dataset_says_whether_it_created(runtime: Runtime) -> None:
    assert runtime.catalog.create_dataset("me", "main", "fresh", "first") is True
    assert runtime.catalog.create_dataset("me", "main", "fresh", "second") is False
    got = runtime.catalog.get_dataset("me", "main", "fresh")
    assert got is not None and got["description"] == "first"


@pytest.mark.parametrize("storage", ["sqlite-local", "postgres-local"], indirect=True)
def test_an_update_replaces_the_annotations_its_upload_brought(runtime: Runtime) -> None:
    """An updated input keeps exactly the annotations of the new upload, plus those other
    users added on their own (`ingestd annotations add`); nothing of the old upload stays,
    whether stored under content-derived ids or the older position-based ones."""
    s = runtime.settings
    first = image_input("pic", image_bytes(), concepts=[Concept(id="cat")])
    first.annotations = [
        box_annotation((0.1, 0.1, 0.3, 0.3)),
        box_annotation((0.2, 0.2, 0.4, 0.4), user_id="labeler-7"),
    ]
    assert not runtime.ingest.handle(UploadRequest(inputs=[first])).failed
    kept = box_annotation((0.5, 0.5, 0.9, 0.9), "dog", user_id="reviewer").model_dump(mode="json")
    added = runtime.catalog.annotations.add(
        s.user_id,
        s.app_id,
        prepare_annotations([("pic", kept)], user_id=s.user_id, app_id=s.app_id),
    )
    assert [o.action for o in added] == [AnnotationAction.CREATED]
    # A row an older version wrote for the box the new upload sends again, under its
    # position-based id (derived from the input, the position and the data).
    again = box_annotation((0.6, 0.6, 0.8, 0.8))
    legacy = annotation_record(again, user_id=s.user_id, app_id=s.app_id, input_id="pic")
    legacy.id = derived_id(s.app_id, "pic", "0", fingerprint(legacy.data))
    with runtime.catalog.begin() as conn:
        runtime.catalog.upsert_annotations(conn, [legacy], datetime.now(UTC))

    second = image_input("pic", image_bytes(), concepts=[Concept(id="bird")])
    second.replace = True  # an update: same id, other concepts and annotations
    second.annotations = [again, box_annotation((0.2, 0.2, 0.5, 0.5), user_id="labeler-7")]
    other = image_input("other", image_bytes(), concepts=[Concept(id="cat")])
    result = runtime.ingest.handle(UploadRequest(inputs=[second, other]))
    assert [o.action for o in result.outcomes] == [Action.UPDATED, Action.CREATED]

    def shapes(input_id: str) -> list[tuple[str, str]]:
        got = runtime.catalog.get_input(s.user_id, s.app_id, input_id)
        assert got is not None
        return sorted(
            (a["annotation_user_id"], json.dumps(a["data"], sort_keys=True))
            for a in got["annotations"]
        )

    def box(top: float, left: float, bottom: float, right: float, concept: str) -> str:
        return json.dumps(
            box_annotation((top, left, bottom, right), concept).data.model_dump(
                mode="json", exclude_none=True, exclude_defaults=True
            ),
            sort_keys=True,
        )

    assert shapes("pic") == sorted(
        [
            (s.user_id, json.dumps({"concepts": [{"id": "bird", "value": 1.0}]}, sort_keys=True)),
            (s.user_id, box(0.6, 0.6, 0.8, 0.8, "cat")),
            ("labeler-7", box(0.2, 0.2, 0.5, 0.5, "cat")),
            ("reviewer", box(0.5, 0.5, 0.9, 0.9, "dog")),
        ]
    )
    # The same upload again changes nothing; the other input of the request is untouched.
    before = shapes("pic")
    runtime.ingest.handle(UploadRequest(inputs=[second]))
    assert shapes("pic") == before
    assert len(shapes("other")) == 1
