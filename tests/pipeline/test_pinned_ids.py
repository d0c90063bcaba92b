"""Ids and fingerprints computed before the COCO import was made faster, pinned.

Content-derived annotation ids and input fingerprints are stored: if a change to how they are
computed altered a single byte, re-importing into an existing catalog would write duplicate
annotations and report unchanged inputs as updated. The expected values were computed on
main before that change; they must never be edited to make a test pass.
"""

from __future__ import annotations

import base64
import random
import uuid
from typing import Any, cast

import pytest

from pipeline.annotation_changes import annotation_record
from pipeline.ids import derived_id, fingerprint
from pipeline.ingest.inputs import prepare_input
from pipeline.limits import Limits
from pipeline.models import Annotation, Data, Input, Media
from pipeline.records import input_level_id

# Constant bytes (not made by Pillow at test time, whose encoder may change).
PNG_RGB = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAFElEQVR4nGPkOiHHAANMDEgAhQMAIzgA9vgl+asAAAAASUVORK5CYII="
)
PNG_MASK = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAQAAAADAQAAAACcj5NrAAAADklEQVR4nGP4wMTAxAAABMIA9bv73/UAAAAASUVORK5CYII="
)


def _region(info: dict[str, Any], **concept: Any) -> dict[str, Any]:
    return {"regions": [{"region_info": info, "data": {"concepts": [{"id": "cat", **concept}]}}]}


BOX = {"bounding_box": {"top_row": 0.1, "left_col": 0.2, "bottom_row": 0.5, "right_col": 0.75}}
ANNOTATIONS: dict[str, dict[str, Any]] = {
    "box": {"data": _region(BOX)},
    "box, named concept, value 0.5": {"data": _region(BOX, name="Cat", value=0.5)},
    "polygon": {
        "data": _region(
            {
                "polygon": {
                    "points": [
                        {"row": 0.1, "col": 0.1},
                        {"row": 0.2, "col": 0.9},
                        {"row": 0.8, "col": 0.5, "z": 1.5},
                    ]
                }
            }  # fmt: skip
        )
    },
    "point": {"data": _region({"point": {"row": 0.25, "col": 1.0}})},
    "mask": {"data": _region({"mask": {"image": {"base64": PNG_MASK}}})},
    "concepts": {"data": {"concepts": [{"id": "dog", "value": 0.0}, {"id": "ünï", "name": "é"}]}},
    "frame": {
        "data": {"frames": [{"frame_info": {"index": 3, "time": 120}, "data": _region(BOX)}]}
    },
    "everything else": {
        "data": _region(BOX),
        "user_id": "labeller",
        "status": "ANNOTATION_PENDING",
        "task_id": "t1",
        "model_version_id": "mv",
        "annotation_info": {"coco": {"annotation_id": 12, "iscrowd": 1}, "note": "ä", "n": 1e16},
    },
}

PINNED_IDS = {
    "box": "02d59c45d530509bb267feacd70c1993",
    "box, named concept, value 0.5": "24e47fc7437b54e9a9ad5429178426d9",
    "polygon": "87d65c143f965085b2528b2d44f47659",
    "point": "96dbd9f09109531a994a2b9366df881b",
    "mask": "ae36d3d0a8685c02936ec69a087de5f3",
    "concepts": "ae5ab92e79c555bdaa8c3fe2581fa270",
    "frame": "f1774038c54255c2959e6de13c3b531f",
    "everything else": "a6c5039d6eb95a2394a1ee792ed8c143",
}


@pytest.mark.parametrize("name", list(ANNOTATIONS))
def test_content_derived_annotation_ids_are_pinned(name: str) -> None:
    ann = Annotation.model_validate(ANNOTATIONS[name])
    record = annotation_record(ann, user_id="me", app_id="main", input_id="in-1")
    assert record.id == PINNED_IDS[name]


def test_derived_ids_are_pinned() -> None:
    assert derived_id("coco", "folder-abc", "1000") == "2914723506855861b42d3a7a8832c11a"
    assert derived_id("main", "in-1", "annotation", "ü") == "7a2988b0e66652aaae9807eb1f4f9a28"
    assert input_level_id("main", "in-1") == "671dc4eea8125a7285e1814f110f1634"
    assert fingerprint({"b": [1.5, None, "é"], "a": 1e16}) == (
        "1df0b605d2c96dd49feabd6c96dd11b73a95776179e00941b900b3524bfba2d5"
    )


def test_input_fingerprint_with_annotations_is_pinned() -> None:
    anns = [Annotation.model_validate(a) for a in ANNOTATIONS.values()]
    anns[0].id = "given-id"
    item = Input(
        id="in-1",
        data=Data(
            image=Media(base64=PNG_RGB),
            metadata={"k": "v", "ü": [1, 2.5]},
            concepts=[{"id": "cat", "value": 1.0}],  # type: ignore[list-item]
        ),
        annotations=anns,
    )
    nothing = cast(Any, None)  # inline bytes: no blob store or fetcher is asked
    ready = prepare_input(
        item, "in-1", user_id="me", app_id="main", blobs=nothing, fetcher=nothing, limits=Limits()
    )
    assert ready.record.fingerprint == (
        "d3f7402ec7e429894b77ded4ed81065164375cccb15770ad9b76efbe242aef56"
    )


def test_derived_ids_are_uuid5_hex() -> None:
    rng = random.Random(5)
    namespace = uuid.UUID("6f1c2c52-6a54-4b8e-9a57-6b1f4f5c2e10")
    alphabet = "ab:-_./\x1f é漢😀"
    for n in range(2000):
        parts = ["".join(rng.choices(alphabet, k=rng.randrange(0, 12))) for _ in range(n % 4 + 1)]
        assert derived_id(*parts) == uuid.uuid5(namespace, "\x1f".join(parts)).hex
    with pytest.raises(UnicodeEncodeError):  # as uuid.uuid5: a lone surrogate is no UTF-8
        derived_id("a", "\ud800")
