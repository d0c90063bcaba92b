"""`ingestd annotations add|list|patch|delete` with every shape of annotations.md."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ingestd.app.runtime import Runtime
from ingestd.cli import app
from tests.support.cli import run, runner

pytestmark = pytest.mark.parametrize("storage", ["sqlite-local", "postgres-s3"], indirect=True)


def mask_file(path: Path) -> Path:
    Image.new("L", (16, 12), 255).save(path, "PNG")
    return path


def png64() -> str:
    buf = io.BytesIO()
    Image.new("1", (4, 4), 1).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def regions(info: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {"regions": [{"region_info": info, **({"data": data} if data else {})}]}


BOX = {"top_row": 0.1, "left_col": 0.2, "bottom_row": 0.5, "right_col": 0.6}
TRIANGLE = [{"row": 0.1, "col": 0.1}, {"row": 0.2, "col": 0.5}, {"row": 0.6, "col": 0.3}]
EVERY_SHAPE: list[dict[str, Any]] = [
    {"input_id": "img-a",
     "data": {"concepts": [{"id": "cat", "value": 1}, {"id": "dog", "value": 0}]}},
    {"input_id": "img-a", "data": regions({"bounding_box": BOX}, concepts=[{"id": "cat"}])},
    {"input_id": "img-b", "data": regions({"polygon": {"points": TRIANGLE}})},
    {"input_id": "img-b", "data": regions({"point": {"row": 0.4, "col": 0.4}})},
    {"input_id": "img-c",
     "data": regions({"mask": {"image": {"base64": png64()}}}, concepts=[{"id": "sky"}])},
    {"input_id": "img-c", "id": "frame-7", "user_id": "labeler-2", "status": "ANNOTATION_PENDING",
     "task_id": "task-1", "annotation_info": {"tool": "video"},
     "data": {"frames": [{"frame_info": {"index": 7, "time": 280},
                          "data": {"concepts": [{"id": "road"}]}}]}},
]  # fmt: skip


def test_every_shape_from_a_file_and_stdin_listed_patched_deleted(
    cli: Runtime, tmp_path: Path
) -> None:
    source = tmp_path / "anns.json"
    source.write_text(json.dumps({"annotations": EVERY_SHAPE}))
    out = run("annotations", "add", "--file", str(source), "--json")
    assert [a["action"] for a in out["annotations"]] == ["created"] * 6
    assert out["status"]["code"] == 10000
    again = runner.invoke(
        app,
        ["annotations", "add", "--file", "-", "--json"],
        input="\n".join(json.dumps(a) for a in EVERY_SHAPE),  # JSON lines on stdin
    )
    assert again.exit_code == 0, again.output
    assert [a["action"] for a in json.loads(again.stdout)["annotations"]] == ["unchanged"] * 6

    listed = run("annotations", "list", "--input", "img-c", "--json")["annotations"]
    frame = next(a for a in listed if a["id"] == "frame-7")
    assert frame["user_id"] == "labeler-2" and frame["task_id"] == "task-1"
    assert frame["data"]["frames"][0]["frame_info"] == {"index": 7, "time": 280}
    assert frame["annotation_info"] == {"tool": "video"}
    mask = next(a for a in listed if a["data"].get("regions"))
    assert mask["data"]["regions"][0]["region_info"]["mask"]["image"]["base64"] == png64()
    shapes = run("annotations", "list")
    for word in ("bounding_box", "polygon", "point", "mask", "frames"):
        assert word in shapes
    pending = run("annotations", "list", "--status", "ANNOTATION_PENDING", "--json")
    assert frame in pending["annotations"]
    assert {a["status"] for a in pending["annotations"]} == {"ANNOTATION_PENDING"}

    out = run("annotations", "patch", "frame-7", "--status", "ANNOTATION_SUCCESS",
              "--concept", "car:0.4", "--info", '{"round": 2}', "--json")  # fmt: skip
    assert out["annotations"][0]["code"] == 24250
    got = run("annotations", "list", "--task-id", "task-1", "--json")["annotations"][0]
    assert got["status"] == "ANNOTATION_SUCCESS" and got["annotation_info"] == {
        "tool": "video",
        "round": 2,
    }
    assert got["data"]["concepts"] == [{"id": "car", "value": 0.4}]
    out = run("annotations", "patch", "frame-7", "--action", "remove", "--concept", "car", "--json")
    assert (
        "concepts"
        not in run("annotations", "list", "--task-id", "task-1", "--json")["annotations"][0]["data"]
    )
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps([{"id": "frame-7", "data": {"frames": [
        {"frame_info": {"index": 8, "time": 320}}]}}]))  # fmt: skip
    run("annotations", "patch", "--file", str(changes), "--action", "overwrite", "--json")
    got = run("annotations", "list", "--task-id", "task-1", "--json")["annotations"][0]
    assert got["data"] == {"frames": [{"frame_info": {"index": 8, "time": 320}}]}

    out = run("annotations", "delete", "frame-7", "ghost", "--json", code=1)
    assert [(a["id"], a["code"]) for a in out["annotations"]] == [
        ("frame-7", 10000),
        ("ghost", 11101),
    ]
    out = run("annotations", "delete", "--input", "img-a", "--input", "img-b", "--json")
    assert len(out["annotations"]) == 8  # two of the seed's and two of ours on each
    assert {a["action"] for a in out["annotations"]} == {"deleted"}
    left = run("annotations", "list", "--json")["annotations"]
    assert {a["input_id"] for a in left if "regions" in a["data"]} == {"img-c", "img-d"}
    assert "img-a" in {a["input_id"] for a in left}  # its own concepts stay with it


def test_convenience_flags_build_each_shape(cli: Runtime, tmp_path: Path) -> None:
    cases = [
        ["--concept", "cat", "--concept", "dog:0"],
        ["--concept", "cat", "--box", "0.1,0.2,0.5,0.6"],
        ["--polygon", "0.1,0.1 0.2,0.5 0.6,0.3"],
        ["--point", "0.5,0.5"],
        ["--mask", str(mask_file(tmp_path / "m.png")), "--concept", "sky"],
        ["--frame", "3:120", "--concept", "road", "--box", "0,0,1,1", "--user-id", "ann",
         "--status", "ANNOTATION_AWAITING_REVIEW", "--task-id", "t9", "--info", '{"a": 1}'],
    ]  # fmt: skip
    for flags in cases:
        out = run("annotations", "add", "img-d", *flags, "--json")
        assert out["annotations"][0]["action"] == "created", flags
    assert (
        run("annotations", "add", "img-d", *cases[1], "--json")["annotations"][0]["action"]
        == "unchanged"
    )
    listed = run("annotations", "list", "--input", "img-d", "--user-id", "ann", "--json")
    ann = listed["annotations"][0]
    assert ann["data"]["frames"][0]["frame_info"] == {"index": 3, "time": 120}
    region = ann["data"]["frames"][0]["data"]["regions"][0]
    assert region["region_info"]["bounding_box"]["bottom_row"] == 1.0
    assert ann["status"] == "ANNOTATION_AWAITING_REVIEW" and ann["annotation_info"] == {"a": 1}

    page = run("annotations", "list", "--limit", "2", "--json")
    nxt = run("annotations", "list", "--limit", "2", "--after", page["next_cursor"], "--json")
    assert nxt["annotations"][0]["id"] > page["annotations"][-1]["id"]


def test_bad_annotations_get_their_codes(cli: Runtime, tmp_path: Path) -> None:
    for flags, words in (
        (["--box", "0.5,0.2,0.1,0.6"], "top_row 0.5 must be above bottom_row 0.1"),
        (["--polygon", "0.1,0.1 0.2,0.2"], "at least 3"),
        (["--point", "2,0"], "point.row is 2.0"),
        (["--frame", "-1:0", "--concept", "x"], "index -1"),
        (["--concept", "cat:3"], "value"),
    ):
        out = run("annotations", "add", "img-a", *flags, "--json", code=1)
        assert out["status"]["description"] == "FAILURE"
        (shown,) = out["annotations"]
        assert shown["code"] == 24155 and words in shown["message"], shown
    shown = run("annotations", "add", "img-a", "--point", "2,0", code=1)
    assert "1 annotation(s) failed" in shown and "ANNOTATION_INVALID" in shown
    assert "TOP,LEFT,BOTTOM,RIGHT" in run("annotations", "add", "img-a", "--box", "1,2", code=1)
    out = run("annotations", "add", "ghost", "--concept", "cat", "--json", code=1)
    assert out["annotations"][0]["code"] == 30102
    assert "nothing to add" in run("annotations", "add", "img-a", code=1)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    out = run("annotations", "add", "--file", str(broken), "--json", code=1)
    assert out["status"]["code"] == 24155
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps([EVERY_SHAPE[3], {**EVERY_SHAPE[3], "data": {"regions": [
        {"region_info": {"point": {"row": 0.4, "col": 1.4}}}]}}]))  # fmt: skip
    out = run("annotations", "add", "--file", str(mixed), "--json", code=1)
    assert out["status"]["description"] == "MIXED_STATUS"
    assert [a["code"] for a in out["annotations"]] == [24150, 24155]
    run("annotations", "add", "img-a", "--id", "mine", "--concept", "cat", "--json")
    out = run("annotations", "add", "img-a", "--id", "mine", "--concept", "dog", "--json", code=1)
    assert out["annotations"][0]["code"] == 40010 and "patch" in out["annotations"][0]["message"]
