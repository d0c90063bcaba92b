"""Annotations for `ingestd annotations`: read from a JSON file or stdin in the platform's
shape, or built from convenience flags (`--concept cat --box top,left,bottom,right`)."""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from ingestd.cli.options import coded, fail, parse_json_object
from pipeline.status import StatusCode

INVALID = StatusCode.ANNOTATION_INVALID_ARGUMENT


def read_annotations(source: str) -> list[Any]:
    """The annotations of a JSON file (or `-`, stdin): `{"annotations": [...]}`, a list, one
    annotation, or JSON lines of annotations."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {source}: {exc}")
    try:
        value: Any = json.loads(text)
    except ValueError as whole:
        try:
            value = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            fail(coded(INVALID, f"{source} is neither JSON nor JSON lines: {whole}"))
    if isinstance(value, dict) and isinstance(value.get("annotations"), list):
        return list(value["annotations"])
    return value if isinstance(value, list) else [value]


def with_input(items: list[Any], input_id: str | None) -> list[tuple[str, Any]]:
    """(input id, annotation) pairs: each names its `input_id`, or INPUT_ID is used."""
    out: list[tuple[str, Any]] = []
    for n, item in enumerate(items):
        named = item.pop("input_id", None) if isinstance(item, dict) else None
        target = named or input_id
        if not target:
            fail(coded(INVALID, f"annotation #{n} names no input_id; give it, or INPUT_ID"))
        out.append((str(target), item))
    return out


@dataclass
class ShapeFlags:
    """The flags that draw one annotation: concepts, a region's shape, a video frame."""

    concept: list[str] = typer.Option([], "--concept", "-c", help="ID or ID:VALUE (repeatable).")
    box: str | None = typer.Option(None, "--box", help="TOP,LEFT,BOTTOM,RIGHT as fractions 0..1.")
    polygon: str | None = typer.Option(
        None, "--polygon", help='"ROW,COL ROW,COL ROW,COL ..." (3 or more).'
    )
    point: str | None = typer.Option(None, "--point", help="ROW,COL as fractions 0..1.")
    mask: Path | None = typer.Option(
        None, "--mask", help="A PNG file: the mask over the whole input."
    )
    frame: str | None = typer.Option(
        None, "--frame", help="INDEX:TIME_MS: the labels are of this video frame."
    )

    def annotation(self, fields: dict[str, Any], remove: bool = False) -> dict[str, Any]:
        """These flags with `fields` (id, status, ...) as one annotation or patch."""
        return from_flags(concepts=self.concept, box=self.box, polygon=self.polygon,
                          point=self.point, mask=self.mask, frame=self.frame, fields=fields,
                          remove=remove)  # fmt: skip


def from_flags(
    *,
    concepts: list[str],
    box: str | None,
    polygon: str | None,
    point: str | None,
    mask: Path | None,
    frame: str | None,
    fields: dict[str, Any],
    remove: bool = False,
) -> dict[str, Any]:
    """One annotation from flags: concepts on a region when a shape is given, else on the
    whole input; inside one video frame with --frame."""
    listed = [_concept(c, remove) for c in concepts]
    info: dict[str, Any] = {}
    if box is not None:
        top, left, bottom, right = _numbers(box, 4, "--box", "TOP,LEFT,BOTTOM,RIGHT")
        info["bounding_box"] = {
            "top_row": top,
            "left_col": left,
            "bottom_row": bottom,
            "right_col": right,
        }
    if polygon is not None:
        pairs = [_numbers(p, 2, "--polygon", "ROW,COL ROW,COL ...") for p in polygon.split()]
        info["polygon"] = {"points": [{"row": r, "col": c} for r, c in pairs]}
    if point is not None:
        row, col = _numbers(point, 2, "--point", "ROW,COL")
        info["point"] = {"row": row, "col": col}
    if mask is not None:
        try:
            info["mask"] = {"image": {"base64": base64.b64encode(mask.read_bytes()).decode()}}
        except OSError as exc:
            fail(f"cannot read --mask {mask}: {exc}")
    data: dict[str, Any] = {}
    if info:
        region: dict[str, Any] = {"region_info": info}
        if listed:
            region["data"] = {"concepts": listed}
        data["regions"] = [region]
    elif listed:
        data["concepts"] = listed
    if frame is not None:
        index, time = _numbers(frame.replace(":", ","), 2, "--frame", "INDEX:TIME_MS")
        if index != int(index) or time != int(time):
            fail(coded(INVALID, f"--frame takes whole numbers INDEX:TIME_MS, got {frame!r}"))
        data = {"frames": [{"frame_info": {"index": int(index), "time": int(time)}, "data": data}]}
    out = {k: v for k, v in fields.items() if v is not None}
    if data:
        out["data"] = data
    return out


def annotation_fields(
    ann_id: str | None, user: str | None, status: str | None, task: str | None, info: str | None
) -> dict[str, Any]:
    return {
        "id": ann_id,
        "user_id": user,
        "status": status,
        "task_id": task,
        "annotation_info": parse_json_object(info, "--info"),
    }


def _concept(text: str, remove: bool) -> dict[str, Any]:
    cid, sep, raw = text.rpartition(":") if ":" in text else (text, "", "")
    if not cid.strip():
        fail(coded(INVALID, f"--concept {text!r} has no id; use ID or ID:VALUE"))
    if remove:
        return {"id": cid}  # remove matches by id
    try:
        value = float(raw) if sep else 1.0
    except ValueError:
        fail(coded(INVALID, f"--concept {text!r}: the value must be a number from 0 to 1"))
    return {"id": cid, "value": value}


def _numbers(text: str, count: int, option: str, shape: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count:
        fail(coded(INVALID, f"{option} takes {shape}, got {text!r}"))
    return values
