"""Annotation rules (pipeline/annotations.py), stable ids and patches (annotation_changes.py),
and the ingest stage failing an input whose annotation breaks a rule."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from ingestd.app.runtime import Runtime
from pipeline.annotation_changes import (
    AnnotationOutcome,
    annotation_record,
    patched_record,
    prepare_annotations,
)
from pipeline.annotations import MASK_PIXELS, parse_annotation
from pipeline.errors import InputError
from pipeline.events import UploadRequest
from pipeline.models import Annotation, Data, Input, Media
from pipeline.patching import PatchAction
from pipeline.records import Action
from pipeline.status import StatusCode
from tests.support.storage import image_bytes


def image_input(input_id: str, data: bytes) -> Input:
    return Input(id=input_id, data=Data(image=Media(base64=data)))


def png(size: tuple[int, int] = (8, 8)) -> str:
    buf = io.BytesIO()
    Image.new("L", size, 255).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def region(info: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"regions": [{"region_info": info, "data": {"concepts": [{"id": "cat"}]}}]}}


def box(top: float, left: float, bottom: float, right: float) -> dict[str, Any]:
    return region(
        {
            "bounding_box": {
                "top_row": top,
                "left_col": left,
                "bottom_row": bottom,
                "right_col": right,
            }
        }
    )


def polygon(*points: tuple[float, float]) -> dict[str, Any]:
    return region({"polygon": {"points": [{"row": r, "col": c} for r, c in points]}})


def frame(index: int, time: int, **data: Any) -> dict[str, Any]:
    return {"data": {"frames": [{"frame_info": {"index": index, "time": time}, "data": data}]}}


GOOD = [
    {"data": {"concepts": [{"id": "cat", "value": 0.7}]}},
    box(0.1, 0.2, 0.5, 0.6),
    box(0, 0, 1, 1),
    polygon((0.1, 0.1), (0.2, 0.5), (0.6, 0.3)),
    region({"point": {"row": 0.5, "col": 0.5, "z": 2}}),
    region({"mask": {"image": {"base64": png()}}}),
    frame(0, 0, concepts=[{"id": "road"}]),
    frame(3, 120, regions=box(0.1, 0.1, 0.2, 0.2)["data"]["regions"]),
]

BAD = {
    "box corner above 1": (box(0.1, 0.2, 1.5, 0.6), "bottom_row is 1.5"),
    "box corner below 0": (box(-0.1, 0.2, 0.5, 0.6), "top_row is -0.1"),
    "box upside down": (box(0.5, 0.2, 0.1, 0.6), "top_row 0.5 must be above bottom_row 0.1"),
    "box without height": (box(0.5, 0.2, 0.5, 0.6), "top_row < bottom_row"),
    "box mirrored": (box(0.1, 0.6, 0.5, 0.2), "left_col 0.6 must be left of right_col 0.2"),
    "box not a number": (box(float("nan"), 0.2, 0.5, 0.6), "top_row is nan"),
    "box in a frame": (
        frame(1, 40, regions=box(0.1, 0.1, 0.2, 2)["data"]["regions"]),
        "data.frames[0].data.regions[0].region_info.bounding_box.right_col is 2",
    ),
    "polygon of two points": (polygon((0.1, 0.1), (0.2, 0.2)), "needs at least 3"),
    "polygon point outside": (
        polygon((0.1, 0.1), (0.2, 1.2), (0.3, 0.3)),
        "polygon.points[1].col is 1.2",
    ),
    "point outside": (region({"point": {"row": 1.01, "col": 0.5}}), "point.row is 1.01"),
    "point infinite depth": (region({"point": {"row": 0, "col": 0, "z": float("inf")}}), "z is"),
    "mask not png": (
        region({"mask": {"image": {"base64": base64.b64encode(b"GIF89a....").decode()}}}),
        "not a PNG image",
    ),
    "mask truncated": (
        region({"mask": {"image": {"base64": png((64, 64))[:60]}}}),
        "does not decode",
    ),
    "mask url": (region({"mask": {"image": {"url": "https://x.test/m.png"}}}), "base64 PNG"),
    "mask too large": (region({"mask": {"image": {"base64": png((4097, 4097))}}}), "at most"),
    "negative frame index": (frame(-1, 0), "index -1"),
    "negative frame time": (frame(0, -40), "time -40"),
    "concept value above 1": ({"data": {"concepts": [{"id": "cat", "value": 1.5}]}}, "value"),
    "region concept value": (
        {"data": {"regions": [{"data": {"concepts": [{"id": "cat", "value": -0.5}]}}]}},
        "regions.0.data.concepts.0.value",
    ),
}


@pytest.mark.parametrize("value", GOOD)
def test_every_shape_of_the_reference_is_accepted(value: dict[str, Any]) -> None:
    parse_annotation(value)


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_bad_geometry_gets_24155_and_says_where(case: str) -> None:
    value, words = BAD[case]
    with pytest.raises(InputError) as err:
        parse_annotation(value, "annotation a1")
    assert err.value.code is StatusCode.ANNOTATION_INVALID_ARGUMENT
    assert err.value.message.startswith("annotation a1: ")
    assert words in err.value.message, err.value.message


def test_mask_bound_is_pixels_not_shape() -> None:
    assert MASK_PIXELS == 4096 * 4096
    parse_annotation(region({"mask": {"image": {"base64": png((4096, 1))}}}))


def test_ids_come_from_the_input_and_the_content() -> None:
    one = prepare_annotations(
        [("in-1", box(0.1, 0.1, 0.2, 0.2)), ("in-1", box(0.1, 0.1, 0.2, 0.2))],
        user_id="u",
        app_id="a",
    )
    other_input = prepare_annotations([("in-2", box(0.1, 0.1, 0.2, 0.2))], user_id="u", app_id="a")
    other_box = prepare_annotations([("in-1", box(0.1, 0.1, 0.3, 0.2))], user_id="u", app_id="a")
    other_user = prepare_annotations(
        [("in-1", {**box(0.1, 0.1, 0.2, 0.2), "user_id": "labeler"})], user_id="u", app_id="a"
    )
    ids = [r.id for r in one + other_input + other_box + other_user]  # type: ignore[union-attr]
    assert ids[0] == ids[1] and len(set(ids[1:])) == 4
    explicit = prepare_annotations([("in-1", {"id": "mine", **GOOD[0]})], user_id="u", app_id="a")
    assert explicit[0].id == "mine"  # type: ignore[union-attr]


def test_prepare_keeps_each_failure_in_its_place() -> None:
    out = prepare_annotations(
        [
            ("in-1", GOOD[1]),
            ("in-1", "a box"),
            ("../etc", GOOD[1]),
            ("in-1", {"id": "bad/id", **GOOD[0]}),
            ("in-1", {"data": {"text": {"raw": "hi"}}}),
            ("in-1", {"data": {}, "colour": "red"}),
        ],
        user_id="u",
        app_id="a",
    )
    assert not isinstance(out[0], AnnotationOutcome)
    codes = [o.code for o in out[1:] if isinstance(o, AnnotationOutcome)]
    assert codes == [
        StatusCode.ANNOTATION_INVALID_ARGUMENT,
        StatusCode.INPUT_INVALID_ARGUMENT,
        StatusCode.INPUT_INVALID_ARGUMENT,
        StatusCode.ANNOTATION_INVALID_ARGUMENT,
        StatusCode.ANNOTATION_INVALID_ARGUMENT,
    ]
    assert "colour" in out[5].message  # type: ignore[union-attr]


def stored(value: dict[str, Any]) -> dict[str, Any]:
    record = annotation_record(
        Annotation.model_validate(value), user_id="u", app_id="a", input_id="in-1"
    )
    return vars(record)


def test_patch_merge_remove_overwrite_of_regions_and_fields() -> None:
    row = stored(
        {
            "id": "a1",
            "data": {
                "concepts": [{"id": "cat"}],
                "regions": [
                    {"id": "r1", **box(0.1, 0.1, 0.2, 0.2)["data"]["regions"][0]},
                    {"id": "r2", **box(0.3, 0.3, 0.4, 0.4)["data"]["regions"][0]},
                ],
            },
            "task_id": "t1",
            "annotation_info": {"tool": "bbox"},
        }
    )
    merged = patched_record(
        PatchAction.MERGE,
        {
            "data": {"concepts": [{"id": "dog", "value": 0}]},
            "status": "ANNOTATION_AWAITING_REVIEW",
            "annotation_info": {"round": 2},
        },
        row,
    )
    assert [c["id"] for c in merged.data["concepts"]] == ["cat", "dog"]
    assert len(merged.data["regions"]) == 2 and merged.status == "ANNOTATION_AWAITING_REVIEW"
    assert merged.annotation_info == {"tool": "bbox", "round": 2} and merged.task_id == "t1"
    assert merged.id == "a1" and merged.input_id == "in-1"

    removed = patched_record(
        PatchAction.REMOVE, {"data": {"regions": [{"id": "r1"}]}, "task_id": True}, row
    )
    assert [r["id"] for r in removed.data["regions"]] == ["r2"] and removed.task_id is None

    over = patched_record(PatchAction.OVERWRITE, {"data": {"concepts": [{"id": "owl"}]}}, row)
    assert over.data == {"concepts": [{"id": "owl"}]} and over.task_id == "t1"

    for change, words in (
        ({"data": {"regions": [{"id": "r1", "region_info": {"point": {"row": 2, "col": 0}}}]}},
         "point.row is 2"),
        ({"user_id": "someone"}, "not user_id"),
        ({"input_id": "in-9"}, "cannot move"),
        ({"status": "DONE"}, "status"),
    ):  # fmt: skip
        with pytest.raises(InputError) as err:
            patched_record(PatchAction.MERGE, change, row)
        assert err.value.code is StatusCode.ANNOTATION_INVALID_ARGUMENT
        assert words in err.value.message


def test_ingest_fails_only_the_input_with_a_bad_annotation(embedded: Runtime) -> None:
    s = embedded.settings
    good = image_input("good", image_bytes())
    good.annotations = [parse_annotation(v) for v in GOOD[:5]]
    bad = image_input("bad", image_bytes(color="blue"))
    bad.annotations = [
        Annotation.model_validate(GOOD[1]),
        Annotation.model_validate(box(0.5, 0.2, 0.1, 0.6)),
    ]
    twice = image_input("twice", image_bytes(color="green"))
    twice.annotations = [Annotation.model_validate(GOOD[1])] * 2
    # Parsed from JSON as a producer sends it: the bad box does not fail the request.
    request = UploadRequest.model_validate_json(
        UploadRequest(inputs=[good, bad, twice]).model_dump_json()
    )
    result = embedded.ingest.handle(request)
    by_id = {o.input_id: o for o in result.outcomes}
    assert by_id["good"].action is Action.CREATED and by_id["twice"].action is Action.CREATED
    assert by_id["bad"].code is StatusCode.ANNOTATION_INVALID_ARGUMENT
    assert "annotation #1" in by_id["bad"].message and "top_row 0.5" in by_id["bad"].message
    got = embedded.catalog.get_input(s.user_id, s.app_id, "good")
    assert got is not None and len(got["annotations"]) == 5
    listed = embedded.catalog.annotations.list(s.user_id, s.app_id, input_ids=["bad", "twice"])
    assert [a["input_id"] for a in listed.annotations] == ["twice"]  # none of the failed input
