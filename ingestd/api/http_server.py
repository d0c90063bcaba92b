"""The HTTP side: the platform's REST routes for inputs with the JSON mapping of the same
messages, run by the same `Api.call` as gRPC; and /healthz, /readyz, /metrics."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from google.protobuf import json_format

from ingestd.api.convert import status
from ingestd.api.service import Api, request_type, response_type
from pipeline.status import StatusCode

MAX_BODY_BYTES = 180 * 1024 * 1024  # a full batch as base64 JSON
_TIMEOUT_S = 60.0  # a client silent this long mid-request is dropped

_APP = r"(?:/users/(?P<user_id>[^/]+)/apps/(?P<app_id>[^/]+))?"
# (HTTP method, path pattern) -> V2 method; the short forms act on the key's own app.
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (verb, re.compile(f"^/v2{_APP}{path}$"), method)
    for verb, path, method in [
        ("POST", "/inputs", "PostInputs"),
        ("GET", "/inputs", "ListInputs"),
        ("PATCH", "/inputs", "PatchInputs"),
        ("DELETE", "/inputs", "DeleteInputs"),
        ("GET", "/inputs/status", "GetInputCount"),
        ("GET", "/inputs/jobs/add/(?P<id>[^/]+)", "GetInputsAddJob"),
        ("GET", "/inputs/(?P<input_id>[^/]+)", "GetInput"),
        ("DELETE", "/inputs/(?P<input_id>[^/]+)", "DeleteInput"),
        ("POST", "/datasets", "PostDatasets"),
        ("GET", "/datasets", "ListDatasets"),
        ("GET", "/datasets/(?P<dataset_id>[^/]+)", "GetDataset"),
    ]
]


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


def _handler(api: Api, ready: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = _TIMEOUT_S
        server_version = "ingestd"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # Api.call logs one JSON line per request, without secrets

        def _send(self, code: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _serve(self, verb: str) -> None:
            path, _, query = self.path.partition("?")
            if verb == "GET" and path in ("/healthz", "/readyz"):
                ok = path == "/healthz" or ready.is_set()
                self._send(200 if ok else 503, b'{"ok": true}' if ok else b'{"ok": false}')
                return
            if verb == "GET" and path == "/metrics":
                from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
                return
            found = route(verb, path)
            if found is None:
                self._send(404, b'{"status": {"code": 11101, "description": "no such route"}}')
                return
            method, params = found
            self._call(method, params, query)

        def _call(self, method: str, params: dict[str, str], query: str) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            if size > MAX_BODY_BYTES:  # refused before a byte of it is read
                self.close_connection = True
                self._reply(method, StatusCode.CONN_EXCEEDS_LIMITS, f"body over {MAX_BODY_BYTES}")
                return
            request = request_type(method)()
            try:
                body = self.rfile.read(size) if size else b"{}"
                json_format.Parse(body or b"{}", request)
                user, app = params.pop("user_id", ""), params.pop("app_id", "")
                if user or app:
                    request.user_app_id.user_id, request.user_app_id.app_id = user, app
                fields = query_fields(request.DESCRIPTOR, query)
                json_format.ParseDict({**fields, **params}, request, ignore_unknown_fields=False)
            except (json_format.ParseError, ValueError, UnicodeDecodeError) as exc:
                self._reply(method, StatusCode.CONN_BAD_REQUEST_FORMAT, str(exc)[:300])
                return
            response = api.call(method, request, self.headers.get("Authorization"))
            self._send(_http_code(response.status.code), _json(response))

        def _reply(self, method: str, code: StatusCode, details: str) -> None:
            response = response_type(method)()
            response.status.CopyFrom(status(code, details))
            self._send(_http_code(int(code)), _json(response))

        def do_GET(self) -> None:  # noqa: N802 - http.server's names
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self._serve("PATCH")

        def do_DELETE(self) -> None:  # noqa: N802
            self._serve("DELETE")

    return Handler


def _json(message: Any) -> bytes:
    return json_format.MessageToJson(
        message, preserving_proto_field_name=True, use_integers_for_enums=True
    ).encode()


def _http_code(code: int) -> int:
    if code in (int(StatusCode.SUCCESS), int(StatusCode.MIXED_STATUS)):
        return 200
    if code in (11007, 11008):
        return 403
    if code == 11009:
        return 401
    if code in (int(StatusCode.CONN_DOES_NOT_EXIST), int(StatusCode.INPUT_DOES_NOT_EXIST)):
        return 404
    return 400 if code != int(StatusCode.FAILURE) else 500


def http_server(
    api: Api, host: str, port: int, ready: threading.Event
) -> tuple[ThreadingHTTPServer, int]:
    server = ThreadingHTTPServer((host, port), _handler(api, ready))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="ingestd-http", daemon=True).start()
    return server, server.server_address[1]
