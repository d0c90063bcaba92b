"""The gRPC side: the served V2 methods routed to `Api.call`; any other method answers
UNIMPLEMENTED (gRPC's answer for a method no handler serves).

A request that does not parse as its message is answered with the platform's 11100 in the
response's status, not a gRPC error; messages are bounded by the batch limit, streams per
connection and calls at once by the API limits, and a call's deadline bounds its waits.
"""

from __future__ import annotations

import time
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from ingestd.api import deadline, metrics
from ingestd.api.convert import status
from ingestd.api.service import METHODS, Api, request_type, response_type
from ingestd.app.settings import Settings
from pipeline.status import StatusCode

SERVICE = "clarifai.api.V2"
_FRAMING = 1024 * 1024  # room for the message around a full batch of media


class _Malformed:
    """A request that could not be parsed (kept to answer it with 11100)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parser(cls: type[Any]) -> Any:
    def parse(data: bytes) -> Any:
        try:
            return cls.FromString(data)
        except (DecodeError, RecursionError) as exc:
            return _Malformed(str(exc)[:300] or "not a protobuf message")

    return parse


def _handler(api: Api, name: str) -> grpc.RpcMethodHandler:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        if isinstance(request, _Malformed):
            response = response_type(name)()
            response.status.CopyFrom(status(StatusCode.CONN_BAD_REQUEST_FORMAT, request.reason))
        else:
            deadline.set_remaining(context.time_remaining())
            metadata = dict(context.invocation_metadata())
            response = api.call(name, request, metadata.get("authorization"))
        metrics.count("grpc", name, response.status.code, time.monotonic() - started)
        return response

    return grpc.unary_unary_rpc_method_handler(
        handle,
        request_deserializer=_parser(request_type(name)),
        response_serializer=lambda m: m.SerializeToString(),
    )


def grpc_server(api: Api, settings: Settings) -> tuple[grpc.Server, int]:
    """A started server and the port it listens on (port 0 picks a free one)."""
    workers, limits = settings.api_workers, settings.api_limits
    largest = settings.limits.batch_bytes + _FRAMING
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingestd-grpc"),
        maximum_concurrent_rpcs=workers * 4,  # beyond that, RESOURCE_EXHAUSTED at once
        options=[
            ("grpc.max_receive_message_length", largest),
            ("grpc.max_send_message_length", largest),
            ("grpc.max_concurrent_streams", limits.grpc_streams),
        ],
    )
    handlers = {name: _handler(api, name) for name in METHODS}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    bound = server.add_insecure_port(f"{settings.api_host}:{settings.grpc_port}")
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {settings.api_host}:{settings.grpc_port}")
    server.start()
    return server, bound
