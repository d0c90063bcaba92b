"""Between the platform's protobuf messages (clarifai-grpc) and ingestd's own models and rows.

Inbound, each `Input` message becomes a `pipeline.models.Input` or the `InputError` that says
why not (the rest of the batch goes on). Outbound, a catalog row becomes an `Input` message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import json_format, struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import ValidationError

from ingestd.api.annotation_convert import data_json
from pipeline.errors import InputError
from pipeline.models import Input
from pipeline.patching import PatchAction
from pipeline.status import StatusCode

# Data fields ingestd stores; anything else set on an input is refused, not dropped silently.
_SERVED = {"image", "video", "audio", "text", "concepts", "metadata", "geo", "regions", "frames"}


def status(code: StatusCode, details: str = "") -> status_pb2.Status:
    return status_pb2.Status(code=int(code), description=code.name, details=details)


def patch_action(action: str, code: StatusCode) -> PatchAction:
    """A request's `action` (blank: merge), or the InputError with `code` that refuses it."""
    try:
        return PatchAction(action or "merge")
    except ValueError:
        raise InputError(
            code, f"action must be merge, overwrite or remove, not {action!r}"
        ) from None


def timestamp(when: datetime | None) -> Timestamp | None:
    if when is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def struct_dict(value: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(value)


def to_struct(value: dict[str, Any] | None) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    if value:
        out.update(value)
    return out


def input_model(msg: res.Input) -> Input:
    """The ingestd input of one platform `Input`; InputError when it cannot be one."""
    data = msg.data
    unserved = sorted(f.name for f, _ in data.ListFields() if f.name not in _SERVED)
    if unserved:
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT,
            f"input {msg.id or '(no id)'}: data.{', data.'.join(unserved)} not supported by "
            "ingestd serve's PostInputs (image, video, audio, text, concepts, metadata, geo, "
            "regions, frames)",
        )
    doc: dict[str, Any] = {"dataset_ids": list(msg.dataset_ids)}
    if data.regions or data.frames:
        doc["annotations"] = _annotations(data, msg.id or "(no id)")
    if msg.id:
        doc["id"] = msg.id
    body: dict[str, Any] = {}
    for kind in ("image", "video", "audio"):
        if data.HasField(kind):
            body[kind] = _media(getattr(data, kind))
    if data.HasField("text"):
        text = data.text
        body["text"] = {"raw": text.raw} if text.raw else _media(text)
    if data.concepts:
        body["concepts"] = [_concept(c) for c in data.concepts]
    if data.HasField("metadata"):
        body["metadata"] = struct_dict(data.metadata)
    if data.HasField("geo"):
        p = data.geo.geo_point
        body["geo"] = {"geo_point": {"latitude": p.latitude, "longitude": p.longitude}}
    doc["data"] = body
    try:
        return Input.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT, f"input {msg.id or '(no id)'}: {where}: {err['msg']}"
        ) from None


def _annotations(data: res.Data, input_id: str) -> list[dict[str, Any]]:
    """One annotation per region and per frame, as the platform stores them."""
    shapes = res.Data(regions=data.regions, frames=data.frames)
    doc = data_json(shapes, f"input {input_id}")
    return [{"data": {"regions": [r]}} for r in doc.get("regions", [])] + [
        {"data": {"frames": [f]}} for f in doc.get("frames", [])
    ]


def _media(m: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if m.url:
        out["url"] = m.url
    if m.base64:
        out["base64"] = bytes(m.base64)  # already raw bytes on the wire: no decoding
    return out


def _concept(c: res.Concept) -> dict[str, Any]:
    out: dict[str, Any] = {"id": c.id or c.name, "value": c.value}
    if c.name:
        out["name"] = c.name
    return out


def input_message(row: dict[str, Any]) -> res.Input:
    """A stored input (catalog row) as the platform's `Input`."""
    msg = res.Input(id=row["id"], dataset_ids=row.get("dataset_ids") or [])
    code = StatusCode(row["status_code"])
    msg.status.CopyFrom(status(code, row.get("status_message") or ""))
    for name in ("created_at", "modified_at"):
        ts = timestamp(row.get(name))
        if ts is not None:
            getattr(msg, name).CopyFrom(ts)
    data = msg.data
    kind = row.get("media_type")
    if kind in ("image", "video", "audio", "text"):
        media = getattr(data, kind)
        if row.get("source_url"):
            media.url = row["source_url"]
        if kind == "image" and row.get("width"):
            media.image_info.width = row["width"]
            media.image_info.height = row["height"] or 0
            media.image_info.format = row.get("format") or ""
        media.SetInParent()  # the kind shows even when there is no URL to give
    for c in row.get("concepts") or []:
        data.concepts.add(id=c["id"], name=c.get("name") or c["id"], value=c.get("value", 1.0))
    if row.get("metadata"):
        data.metadata.CopyFrom(to_struct(row["metadata"]))
    geo = row.get("geo")
    if geo:
        point = geo["geo_point"]
        data.geo.geo_point.latitude = point["latitude"]
        data.geo.geo_point.longitude = point["longitude"]
    return msg


def dataset_message(row: dict[str, Any], user_id: str, app_id: str) -> res.Dataset:
    msg = res.Dataset(
        id=row["id"], user_id=user_id, app_id=app_id, description=row.get("description") or ""
    )
    ts = timestamp(row.get("created_at"))
    if ts is not None:
        msg.created_at.CopyFrom(ts)
    if row.get("metadata"):
        msg.metadata.CopyFrom(to_struct(row["metadata"]))
    return msg
