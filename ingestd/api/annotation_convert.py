"""The platform's `Annotation` messages as ingestd's annotation JSON (the platform's shape,
checked by `pipeline/annotations.py`); the way back is `annotations.annotation_message`.

Inbound, the JSON mapping drops fields at their default, but a box edge or a point at 0.0 is
a coordinate and a concept's value 0 means "absent": those are put back. Fields ingestd does
not store are refused by name (24155), never dropped silently.
"""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as res
from google.protobuf import json_format

from pipeline.errors import InputError
from pipeline.models import AnnotationStatus
from pipeline.status import StatusCode

INVALID = StatusCode.ANNOTATION_INVALID_ARGUMENT
_DATA = {"concepts", "regions", "frames"}
# Set by the platform on what it returns; a client echoing them back changes nothing.
_ECHOED = {"id", "input_id", "data", "annotation_info", "user_id", "model_version_id",
           "status", "task_id", "created_at", "modified_at", "input_level"}  # fmt: skip
_COORDINATES = {
    "bounding_box": ("top_row", "left_col", "bottom_row", "right_col"),
    "point": ("row", "col"),
    "frame_info": ("index", "time"),
}


def annotation_json(msg: res.Annotation, what: str) -> dict[str, Any]:
    """The annotation JSON of one message (its `input_id` aside); InputError 24155 naming
    a field ingestd does not store."""
    extra = sorted(f.name for f, _ in msg.ListFields() if f.name not in _ECHOED)
    if extra:
        raise InputError(INVALID, f"{what}: {', '.join(extra)} not supported by ingestd")
    out: dict[str, Any] = {"data": data_json(msg.data, what)}
    for name in ("id", "user_id", "model_version_id", "task_id"):
        if getattr(msg, name):
            out[name] = getattr(msg, name)
    if msg.HasField("annotation_info"):
        out["annotation_info"] = json_format.MessageToDict(msg.annotation_info)
    if msg.status.code:
        out["status"] = annotation_status(msg.status.code, what)
    return out


def data_json(data: res.Data, what: str) -> dict[str, Any]:
    """Concepts, regions and frames of a `Data` as annotation JSON."""
    unserved = sorted(f.name for f, _ in data.ListFields() if f.name not in _DATA)
    if unserved:
        raise InputError(
            INVALID,
            f"{what}: data.{', data.'.join(unserved)} not supported in an annotation by "
            "ingestd (concepts, regions, frames)",
        )
    doc = json_format.MessageToDict(data, preserving_proto_field_name=True)
    _restore_defaults(doc, data)
    return doc


def _restore_defaults(doc: Any, msg: Any) -> None:
    """Put back what the JSON mapping left out at its default but which means something."""
    if isinstance(doc, list):
        for d, m in zip(doc, msg, strict=True):
            _restore_defaults(d, m)
        return
    if not isinstance(doc, dict):
        return
    for key, value in doc.items():
        _restore_defaults(value, getattr(msg, key))
        if key == "concepts":
            for c, m in zip(value, getattr(msg, key), strict=True):
                c["value"] = m.value  # 0 is "absent", not "unset"
                c.setdefault("id", m.name)
    for key, names in _COORDINATES.items():
        if key in doc:
            for name in names:
                doc[key].setdefault(name, 0)
    if "points" in doc:  # a polygon's points
        for point in doc["points"]:
            point.setdefault("row", 0.0)
            point.setdefault("col", 0.0)


def annotation_status(code: int, what: str) -> str:
    names = {s.value for s in AnnotationStatus}
    try:
        name = StatusCode(code).name
    except ValueError:
        name = ""
    if name not in names:
        raise InputError(
            INVALID,
            f"{what}: status {code} is not an annotation status (choose from "
            f"{', '.join(f'{int(StatusCode[n])} {n}' for n in sorted(names))})",
        )
    return name
