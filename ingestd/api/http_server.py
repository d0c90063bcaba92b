"""The HTTP side: the platform's REST routes for inputs with the JSON mapping of the same
messages, run by the same `Api.call` as gRPC; and /healthz, /readyz, /metrics."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, unquote

from google.protobuf import json_format
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingestd.api import metrics
from ingestd.api.convert import status
from ingestd.api.downloads import Downloads
from ingestd.api.http_wire import Refused, Request, Response, WireServer
from ingestd.api.openapi import document
from ingestd.api.service import Api, request_type, response_type
from ingestd.app.settings import Settings
from pipeline.errors import IngestError
from pipeline.limits import Limits
from pipeline.status import StatusCode

# (HTTP verb, path under /v2, V2 method), in the order they are matched. Each is served in
# full (`/v2/users/{user_id}/apps/{app_id}/...`) and short (`/v2/...`: the key's own app).
ROUTE_TABLE: list[tuple[str, str, str]] = [
    ("POST", "/inputs", "PostInputs"),
    ("GET", "/inputs", "ListInputs"),
    ("PATCH", "/inputs", "PatchInputs"),
    ("DELETE", "/inputs", "DeleteInputs"),
    ("GET", "/inputs/status", "GetInputCount"),
    ("POST", "/inputs/searches", "PostInputsSearches"),
    ("GET", "/inputs/jobs/add/{id}", "GetInputsAddJob"),
    ("POST", "/inputs/data_sources", "PostInputsDataSources"),
    ("GET", "/inputs/jobs/extraction", "ListInputsExtractionJobs"),
    ("GET", "/inputs/jobs/extraction/{inputs_extraction_job_id}", "GetInputsExtractionJob"),
    ("PATCH", "/inputs/jobs/extraction", "CancelInputsExtractionJobs"),
    ("GET", "/inputs/{input_id}", "GetInput"),
    ("DELETE", "/inputs/{input_id}", "DeleteInput"),
    ("POST", "/annotations", "PostAnnotations"),
    ("GET", "/annotations", "ListAnnotations"),
    ("PATCH", "/annotations", "PatchAnnotations"),
    ("DELETE", "/annotations", "DeleteAnnotations"),
    ("DELETE", "/inputs/{input_id}/annotations/{annotation_id}", "DeleteAnnotation"),
    ("POST", "/datasets", "PostDatasets"),
    ("GET", "/datasets", "ListDatasets"),
    ("PATCH", "/datasets", "PatchDatasets"),
    ("DELETE", "/datasets", "DeleteDatasets"),
    ("GET", "/datasets/{dataset_id}", "GetDataset"),
    ("POST", "/datasets/{dataset_id}/inputs", "PostDatasetInputs"),
    ("GET", "/datasets/{dataset_id}/inputs", "ListDatasetInputs"),
    ("DELETE", "/datasets/{dataset_id}/inputs", "DeleteDatasetInputs"),
    ("POST", "/datasets/{dataset_id}/versions", "PostDatasetVersions"),
    ("GET", "/datasets/{dataset_id}/versions", "ListDatasetVersions"),
    ("DELETE", "/datasets/{dataset_id}/versions", "DeleteDatasetVersions"),
    ("GET", "/datasets/{dataset_id}/versions/{dataset_version_id}", "GetDatasetVersion"),
    (
        "PUT",
        "/datasets/{dataset_id}/versions/{dataset_version_id}/exports",
        "PutDatasetVersionExports",
    ),
]
_APP = r"(?:/users/(?P<user_id>[^/]+)/apps/(?P<app_id>[^/]+))?"
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (verb, re.compile("^/v2" + _APP + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", path) + "$"), method)
    for verb, path, method in ROUTE_TABLE
]
_OPENAPI: list[bytes] = []  # built on first request
_OK = int(StatusCode.SUCCESS)


def route(verb: str, path: str) -> tuple[str, dict[str, str]] | None:
    for want, pattern, method in ROUTES:
        found = pattern.match(path)
        if found and want == verb:
            return method, {k: unquote(v) for k, v in found.groupdict().items() if v is not None}
    return None


def query_fields(descriptor: Any, query: str) -> dict[str, Any]:
    """GET parameters as the JSON of a message: `status.code=30000` nests, a repeated field
    may be given several times (`ids=a&ids=b`), as clarifai-grpc's JSON channel sends them."""
    out: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        *parents, leaf = name.split(".")
        node, desc = out, descriptor
        for part in parents:
            field = desc.fields_by_name.get(part)
            if field is None or field.message_type is None:
                raise ValueError(f"unknown parameter {name!r}")
            node, desc = node.setdefault(part, {}), field.message_type
        field = desc.fields_by_name.get(leaf)
        if field is None:
            raise ValueError(f"unknown parameter {name!r}")
        if _is_repeated(field):
            node.setdefault(leaf, []).append(value)
        else:
            node[leaf] = value
    return out


def _is_repeated(field: Any) -> bool:
    # protobuf 6 has `label`; later versions say `is_repeated`.
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else field.label == field.LABEL_REPEATED


class HttpApi:
    """Requests (read whole by http_wire) to `Api.call`, and /healthz, /readyz, /metrics."""

    def __init__(self, api: Api, ready: threading.Event) -> None:
        self.api, self.ready = api, ready
        self.downloads = Downloads(api.rt, api.auth, _failure)

    def __call__(self, request: Request) -> Response:
        started = time.monotonic()
        name, code, response = self._answer(request)
        metrics.count("http", name, code, time.monotonic() - started)
        return response

    def _answer(self, request: Request) -> tuple[str, int, Response]:
        """The route's name and platform code (for metrics), and the answer."""
        verb = request.method
        path, _, query = request.target.partition("?")
        if verb == "GET" and path in ("/healthz", "/readyz"):
            ok = path == "/healthz" or self.ready.is_set()
            body = b'{"ok": true}' if ok else b'{"ok": false}'
            return path, _OK, Response(200 if ok else 503, body)
        if verb == "GET" and path == "/openapi.json":
            if not _OPENAPI:
                _OPENAPI.append(json.dumps(document(ROUTE_TABLE, "1")).encode())
            return path, _OK, Response(200, _OPENAPI[0])
        if verb == "GET" and path == "/metrics":
            return path, _OK, Response(200, generate_latest(), CONTENT_TYPE_LATEST)
        if verb == "GET":  # an export's zip or a medium, at the URLs exports give out
            served = self.downloads.answer(path, request.headers.get("authorization"))
            if served is not None:
                return served
        found = route(verb, path)
        if found is None:
            no_route = Refused(404, StatusCode.CONN_DOES_NOT_EXIST, f"no route {verb} {path}")
            return "(no route)", int(no_route.code), _refused(no_route)
        method, params = found
        try:  # the key first: a caller without one never gets its body parsed
            self.api.auth.caller(request.headers.get("authorization"))
        except IngestError as exc:
            return method, int(exc.code), _answer(method, exc.code, exc.message)
        message = request_type(method)()
        try:
            json_format.Parse(request.body or b"{}", message)
            user, app = params.pop("user_id", ""), params.pop("app_id", "")
            if user or app:
                message.user_app_id.user_id, message.user_app_id.app_id = user, app
            fields = query_fields(message.DESCRIPTOR, query)
            json_format.ParseDict({**fields, **params}, message, ignore_unknown_fields=False)
        except (json_format.ParseError, ValueError, UnicodeDecodeError, RecursionError) as exc:
            bad = StatusCode.CONN_BAD_REQUEST_FORMAT
            return method, int(bad), _answer(method, bad, str(exc)[:300])
        response = self.api.call(method, message, request.headers.get("authorization"))
        code = response.status.code
        return method, code, Response(_http_code(code), _json(response))


def refusal(refused: Refused) -> Response:
    """A request refused before it reached a method: the platform's Status as JSON."""
    metrics.count("http", "(refused)", int(refused.code))
    return _refused(refused)


def _refused(refused: Refused) -> Response:
    body = {"status": {"code": int(refused.code), "description": refused.code.name}}
    body["status"]["details"] = refused.message
    return Response(refused.http, json.dumps(body).encode())


def _failure(code: StatusCode, details: str) -> Response:
    return _refused(Refused(_http_code(int(code)), code, details))


def _answer(method: str, code: StatusCode, details: str) -> Response:
    response = response_type(method)()
    response.status.CopyFrom(status(code, details))
    return Response(_http_code(int(code)), _json(response))


def _json(message: Any) -> bytes:
    return json_format.MessageToJson(
        message, preserving_proto_field_name=True, use_integers_for_enums=True
    ).encode()


def _http_code(code: int) -> int:
    """The HTTP status of a platform status code: 2xx for success (and mixed), 5xx only for
    ingestd's own failures and its being busy, 4xx for the rest (the request's fault)."""
    if code in (int(StatusCode.SUCCESS), int(StatusCode.MIXED_STATUS)):
        return 200
    special = {
        11007: 403,
        11008: 403,
        11009: 401,
        int(StatusCode.CONN_DOES_NOT_EXIST): 404,
        int(StatusCode.INPUT_DOES_NOT_EXIST): 404,
        int(StatusCode.RPC_REQUEST_TIMEOUT): 408,
        int(StatusCode.CONN_EXCEEDS_LIMITS): 413,
        int(StatusCode.RPC_REQUEST_QUEUE_FULL): 503,
    }
    if code in special:
        return special[code]
    return 500 if code // 1000 == 98 else 400


def http_server(api: Api, settings: Settings, ready: threading.Event) -> tuple[WireServer, int]:
    """A started HTTP server and its port (0 in settings picks a free one)."""
    wire = WireServer(
        HttpApi(api, ready),
        refusal,
        settings.api_limits,
        max_body_bytes(settings.limits),
        settings.api_workers,
    )
    return wire, wire.start(settings.api_host, settings.http_port)


def max_body_bytes(limits: Limits) -> int:
    """A full batch as base64 in JSON: 4/3 of its bytes, and room for the JSON around it."""
    return limits.batch_bytes * 4 // 3 + 1024 * 1024
