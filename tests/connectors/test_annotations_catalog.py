"""The catalog's annotations facet on SQLite and PostgreSQL: add (idempotent), list, patch,
delete, and another app's annotations never touched."""

from __future__ import annotations

from typing import Any

import pytest

from ingestd.app.runtime import Runtime
from pipeline.annotation_changes import AnnotationAction, prepare_annotations
from pipeline.events import UploadRequest
from pipeline.models import Annotation, Concept, Data, Input, Media
from pipeline.patching import PatchAction
from pipeline.records import input_level_id
from pipeline.status import StatusCode
from tests.support.storage import image_bytes

pytestmark = pytest.mark.parametrize("storage", ["sqlite-local", "postgres-s3"], indirect=True)


def box(top: float, bottom: float, **extra: Any) -> dict[str, Any]:
    info = {
        "bounding_box": {"top_row": top, "left_col": 0.1, "bottom_row": bottom, "right_col": 0.9}
    }
    return {"data": {"regions": [{"region_info": info}]}, **extra}


def upload(rt: Runtime, app_id: str, *ids: str) -> None:
    inputs = [
        Input(
            id=i,
            data=Data(image=Media(base64=image_bytes(color=c)), concepts=[Concept(id="cat")]),
        )
        for i, c in zip(ids, ("red", "blue", "green"), strict=False)
    ]
    req = UploadRequest(user_id=rt.settings.user_id, app_id=app_id, inputs=inputs)
    assert not rt.ingest.handle(req).failed


def add(rt: Runtime, app_id: str, *items: tuple[str, Any]) -> list[tuple[str, int]]:
    s, facet = rt.settings, rt.catalog.annotations
    prepared = prepare_annotations(items, user_id=s.user_id, app_id=app_id)
    return [(o.action.value, int(o.code)) for o in facet.add(s.user_id, app_id, prepared)]


def test_add_is_idempotent_and_explicit_ids_conflict(runtime: Runtime) -> None:
    s = runtime.settings
    upload(runtime, s.app_id, "in-1", "in-2")
    items = [
        ("in-1", box(0.1, 0.5)),
        ("in-1", box(0.1, 0.5)),  # the same annotation twice in one call
        ("in-2", {"id": "mine", **box(0.2, 0.4)}),
        ("ghost", box(0.1, 0.5)),
        ("in-1", box(0.5, 0.1)),
    ]
    assert add(runtime, s.app_id, *items) == [
        ("created", 24150),
        ("unchanged", 24150),
        ("created", 24150),
        ("failed", 30102),
        ("failed", 24155),
    ]
    # Importing the same again writes nothing; other content under an id is a duplicate.
    before = runtime.catalog.annotations.list(s.user_id, s.app_id).annotations
    assert add(runtime, s.app_id, *items[:3]) == [("unchanged", 24150)] * 3
    assert runtime.catalog.annotations.list(s.user_id, s.app_id).annotations == before
    assert add(runtime, s.app_id, ("in-2", {"id": "mine", **box(0.2, 0.6)})) == [("failed", 40010)]
    assert add(runtime, s.app_id, ("in-1", {"id": "mine", **box(0.2, 0.4)})) == [
        ("failed", 40010)  # an id names one annotation on one input
    ]


def test_list_filters_and_pages(runtime: Runtime) -> None:
    s, facet = runtime.settings, runtime.catalog.annotations
    upload(runtime, s.app_id, "in-1", "in-2")
    add(
        runtime,
        s.app_id,
        ("in-1", box(0.1, 0.2, user_id="ann", status="ANNOTATION_PENDING", task_id="t1")),
        ("in-1", box(0.1, 0.3, user_id="ann")),
        ("in-2", box(0.1, 0.4, task_id="t1")),
    )
    everything = facet.list(s.user_id, s.app_id).annotations
    assert len(everything) == 5  # two input-level (concepts) plus three
    assert len(facet.list(s.user_id, s.app_id, input_ids=["in-1"]).annotations) == 3
    by_user = facet.list(s.user_id, s.app_id, annotation_user_id="ann").annotations
    assert [a["user_id"] for a in by_user] == ["ann", "ann"]
    pending = facet.list(s.user_id, s.app_id, status="ANNOTATION_PENDING").annotations
    assert [a["task_id"] for a in pending] == ["t1"]
    assert len(facet.list(s.user_id, s.app_id, task_id="t1").annotations) == 2
    pages, after = [], ""
    while True:
        page = facet.list(s.user_id, s.app_id, limit=2, after=after)
        pages.append([a["id"] for a in page.annotations])
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sum(pages, []) == [a["id"] for a in everything]


def test_patch_and_delete_each_their_own_status(runtime: Runtime) -> None:
    s, facet = runtime.settings, runtime.catalog.annotations
    upload(runtime, s.app_id, "in-1", "in-2")
    add(
        runtime,
        s.app_id,
        ("in-1", {"id": "a1", **box(0.1, 0.5)}),
        ("in-2", {"id": "a2", **box(0.1, 0.5)}),
    )
    level = input_level_id(s.app_id, "in-1")
    out = facet.patch(
        s.user_id,
        s.app_id,
        [
            {"id": "a1", "data": {"concepts": [{"id": "dog"}]}, "status": "ANNOTATION_PENDING"},
            {"id": "a2", "data": {"regions": [{"region_info": {"point": {"row": 3, "col": 0}}}]}},
            {"id": "ghost", "status": "ANNOTATION_PENDING"},
            {"id": level, "data": {"concepts": []}},
        ],
        PatchAction.MERGE,
    )
    assert [(o.annotation_id, o.code) for o in out] == [
        ("a1", StatusCode.ANNOTATION_MODIFY_SUCCESS),
        ("a2", StatusCode.ANNOTATION_INVALID_ARGUMENT),
        ("ghost", StatusCode.CONN_DOES_NOT_EXIST),
        (level, StatusCode.ANNOTATION_PERMISSION_DENIED),
    ]
    rows = {a["id"]: a for a in facet.list(s.user_id, s.app_id).annotations}
    assert rows["a1"]["status"] == "ANNOTATION_PENDING"
    assert rows["a1"]["data"]["concepts"] == [{"id": "dog"}]
    assert rows["a2"]["data"] == box(0.1, 0.5)["data"]  # kept what it had
    # Re-posting the original content of a patched annotation is now a conflict.
    assert add(runtime, s.app_id, ("in-1", {"id": "a1", **box(0.1, 0.5)})) == [("failed", 40010)]

    out = facet.delete(s.user_id, s.app_id, ids=["a1", "ghost", level])
    assert [(o.action, o.code) for o in out] == [
        (AnnotationAction.DELETED, StatusCode.SUCCESS),
        (AnnotationAction.FAILED, StatusCode.CONN_DOES_NOT_EXIST),
        (AnnotationAction.FAILED, StatusCode.ANNOTATION_PERMISSION_DENIED),
    ]
    out = facet.delete(s.user_id, s.app_id, input_ids=["in-2", "nowhere"])
    assert [(o.annotation_id, o.code) for o in out] == [
        ("a2", StatusCode.SUCCESS),
        ("", StatusCode.INPUT_DOES_NOT_EXIST),
    ]
    left = facet.list(s.user_id, s.app_id).annotations
    assert sorted(a["input_id"] for a in left) == ["in-1", "in-2"]  # the concepts stay

    # Annotations go with their input.
    add(runtime, s.app_id, ("in-1", box(0.2, 0.3)))
    runtime.catalog.inputs.delete_inputs(s.user_id, s.app_id, ["in-1"])
    assert [a["input_id"] for a in facet.list(s.user_id, s.app_id).annotations] == ["in-2"]


def test_another_apps_annotations_are_never_touched(runtime: Runtime) -> None:
    s, facet = runtime.settings, runtime.catalog.annotations
    upload(runtime, s.app_id, "in-1")
    upload(runtime, "other", "in-1")
    add(runtime, "other", ("in-1", {"id": "a1", **box(0.1, 0.5)}))
    theirs = facet.list(s.user_id, "other").annotations

    assert add(runtime, s.app_id, ("in-1", {"id": "a1", **box(0.1, 0.6)})) == [("created", 24150)]
    out = facet.patch(
        s.user_id, s.app_id, [{"id": "a1", "status": "ANNOTATION_PENDING"}], PatchAction.MERGE
    )
    assert out[0].ok
    assert [o.code for o in facet.delete(s.user_id, s.app_id, ids=["a1", "a1"])] == [
        StatusCode.SUCCESS
    ]
    assert facet.delete(s.user_id, s.app_id, ids=["a1"])[0].code is StatusCode.CONN_DOES_NOT_EXIST
    facet.delete(s.user_id, s.app_id, input_ids=["in-1"])
    assert facet.list(s.user_id, "other").annotations == theirs
    # Their input is not ours to annotate either.
    assert add(runtime, s.app_id, ("in-9", box(0.1, 0.5))) == [("failed", 30102)]


def test_an_upload_never_moves_another_inputs_annotation(runtime: Runtime) -> None:
    s, facet = runtime.settings, runtime.catalog.annotations
    upload(runtime, s.app_id, "in-1")
    add(runtime, s.app_id, ("in-1", {"id": "shared", **box(0.1, 0.5)}))
    item = Input(id="in-2", data=Data(image=Media(base64=image_bytes(color="blue"))))
    item.annotations = [Annotation.model_validate({"id": "shared", **box(0.2, 0.3)})]
    assert not runtime.ingest.handle(UploadRequest(inputs=[item])).failed
    (kept,) = [a for a in facet.list(s.user_id, s.app_id).annotations if a["id"] == "shared"]
    assert kept["input_id"] == "in-1" and kept["data"] == box(0.1, 0.5)["data"]
