"""The OpenAPI 3 document of the HTTP routes (served at /openapi.json), generated from the
route table and the JSON mapping of each method's protobuf messages.

A subset of JSON Schema, as the JSON mapping writes it: objects with their known fields
(proto names) and types; 64-bit integers as strings, enums as integers, bytes as base64;
Struct, Value and Timestamp as JSON does them. A message that recurs inside itself, or lies
deeper than _MAX_DEPTH, is an object of any fields there.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from ingestd.api.service import request_type, response_type

_MAX_DEPTH = 4
_I32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
_U32 = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
_I64 = {"type": "string", "pattern": "^-?[0-9]{1,19}$"}
_T = FieldDescriptor
_SCALARS: dict[int, dict[str, Any]] = {
    _T.TYPE_DOUBLE: {"type": "number"},
    _T.TYPE_FLOAT: {"type": "number", "minimum": -3.4e38, "maximum": 3.4e38},
    _T.TYPE_INT32: _I32,
    _T.TYPE_SINT32: _I32,
    _T.TYPE_SFIXED32: _I32,
    _T.TYPE_UINT32: _U32,
    _T.TYPE_FIXED32: _U32,
    _T.TYPE_INT64: _I64,
    _T.TYPE_SINT64: _I64,
    _T.TYPE_SFIXED64: _I64,
    _T.TYPE_UINT64: _I64,
    _T.TYPE_FIXED64: _I64,
    _T.TYPE_BOOL: {"type": "boolean"},
    _T.TYPE_STRING: {"type": "string"},
    _T.TYPE_BYTES: {"type": "string", "format": "byte"},
    _T.TYPE_ENUM: _I32,
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Any": {"type": "object"},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte"},
    "google.protobuf.FloatValue": {"type": "number"},
    "google.protobuf.DoubleValue": {"type": "number"},
    "google.protobuf.Int32Value": _I32,
    "google.protobuf.UInt32Value": _U32,
    "google.protobuf.Int64Value": _I64,
    "google.protobuf.UInt64Value": _I64,
}


class _Schemas:
    """Components, one per message, defined depth-first: a reference only ever points at a
    component already complete, so the document has no cycles."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}
        self._open: list[str] = []

    def message(self, desc: Descriptor) -> dict[str, Any]:
        if desc.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[desc.full_name])
        name = desc.full_name.replace(".", "_")
        if name in self._open or len(self._open) >= _MAX_DEPTH:
            return {"type": "object"}
        if name not in self.components:
            self._open.append(name)
            props = {f.name: self.field(f) for f in desc.fields}
            self._open.pop()
            self.components[name] = {
                "type": "object",
                "properties": props,
                "additionalProperties": False,
            }
        return {"$ref": f"#/components/schemas/{name}"}

    def field(self, f: FieldDescriptor) -> dict[str, Any]:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            return {"type": "object", "additionalProperties": self.field(f.message_type.fields[1])}
        one = self.message(f.message_type) if f.message_type else dict(_SCALARS[f.type])
        return {"type": "array", "items": one} if _repeated(f) else one


def _repeated(f: FieldDescriptor) -> bool:
    flag = getattr(f, "is_repeated", None)  # protobuf 6 has `label`; later `is_repeated`
    return bool(flag) if flag is not None else f.label == f.LABEL_REPEATED


def _query(desc: Descriptor, skip: set[str], schemas: _Schemas) -> list[dict[str, Any]]:
    """GET parameters: scalar fields, and those of a message field as `field.sub`."""
    out: list[dict[str, Any]] = []
    for f in desc.fields:
        if f.name in skip:
            continue
        if f.message_type is None:
            out.append({"name": f.name, "in": "query", "schema": schemas.field(f)})
        elif not _repeated(f) and f.message_type.full_name not in _WELL_KNOWN:
            for sub in f.message_type.fields:
                if sub.message_type is None and not _repeated(sub):
                    name = f"{f.name}.{sub.name}"
                    out.append({"name": name, "in": "query", "schema": schemas.field(sub)})
    return out


def document(routes: list[tuple[str, str, str]], version: str) -> dict[str, Any]:
    """The document for (HTTP verb, path under /v2 with {params}, V2 method) routes, each in
    its full form (`/v2/users/{user_id}/apps/{app_id}/...`) and its short one (the key's app)."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for verb, path, method in routes:
        req, resp = request_type(method).DESCRIPTOR, response_type(method).DESCRIPTOR
        params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        answer = {"content": {"application/json": {"schema": schemas.message(resp)}}}
        for full in (True, False):
            names = (["user_id", "app_id"] if full else []) + params
            op: dict[str, Any] = {
                "operationId": f"{method}{'' if full else 'OwnApp'}",
                "parameters": [
                    {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                    for n in names
                ],
                "responses": {
                    "200": {"description": method, **answer},
                    "default": {"description": "the platform's status code", **answer},
                },
            }
            skip = {"user_app_id", *params}
            if verb == "GET":
                op["parameters"] += _query(req, skip, schemas)
            else:
                body = {
                    "type": "object",
                    "properties": {
                        f.name: schemas.field(f) for f in req.fields if f.name not in skip
                    },
                    "additionalProperties": False,
                }
                op["requestBody"] = {"content": {"application/json": {"schema": body}}}
            prefix = "/v2/users/{user_id}/apps/{app_id}" if full else "/v2"
            paths.setdefault(prefix + path, {})[verb.lower()] = op
    paths.update(_other_paths())
    return {
        "openapi": "3.0.3",
        "info": {"title": "ingestd serve", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "key": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Key <secret of `ingestd keys create`>",
                }
            },
        },
        "security": [{"key": []}],
    }


_STATUS = {
    "type": "object",
    "properties": {"status": {"type": "object"}},
    "required": ["status"],
}
_APP = "/v2/users/{user_id}/apps/{app_id}"


def _get(summary: str, ok: dict[str, Any], params: list[str], *, keyed: bool) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in params
        ],
        "responses": {
            "200": {"description": "the content", "content": ok},
            "default": {
                "description": "the platform's status code",
                "content": {"application/json": {"schema": _STATUS}},
            },
        },
    }
    if not keyed:
        op["security"] = []
    return {"get": op}


def _other_paths() -> dict[str, Any]:
    """The routes no V2 message describes: operations, and the downloads exports hand out."""
    health = {"application/json": {"schema": {"type": "object"}}}
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "/healthz": _get("alive", health, [], keyed=False),
        "/readyz": _get("ready to serve (503 while starting)", health, [], keyed=False),
        "/metrics": _get("Prometheus metrics", {"text/plain": binary}, [], keyed=False),
        "/openapi.json": _get("this document", health, [], keyed=False),
        _APP + "/datasets/{dataset_id}/versions/{version_id}/exports/{format}": _get(
            "a version's export archive (the URL PutDatasetVersionExports answers)",
            {"application/zip": binary},
            ["user_id", "app_id", "dataset_id", "version_id", "format"],
            keyed=True,
        ),
        # A medium's key may hold several segments after its namespace (`{key}` may contain
        # slashes); OpenAPI cannot say so of a path parameter, the description does.
        _APP + "/media/orig/{namespace}/{key}": _get(
            "a medium of the app (the `hosted` URLs of protobuf exports); {key} may contain /",
            {"*/*": binary},
            ["user_id", "app_id", "namespace", "key"],
            keyed=True,
        ),
    }
