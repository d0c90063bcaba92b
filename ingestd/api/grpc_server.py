"""The gRPC side: clarifai-grpc's generated V2 servicer, with the served methods routed to
`Api.call`; every other method keeps the generated default (UNIMPLEMENTED)."""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
from clarifai_grpc.grpc.api import service_pb2_grpc

from ingestd.api.service import METHODS, Api

MAX_MESSAGE_BYTES = 128 * 1024 * 1024  # a full batch of inputs (Limits.batch_bytes)


def _method(name: str) -> Any:
    def handle(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        metadata = dict(context.invocation_metadata())
        return self.api.call(name, request, metadata.get("authorization"))

    handle.__name__ = name
    return handle


def servicer_class() -> type[service_pb2_grpc.V2Servicer]:
    body: dict[str, Any] = {name: _method(name) for name in METHODS}
    body["__init__"] = lambda self, api: setattr(self, "api", api)
    return type("IngestdV2Servicer", (service_pb2_grpc.V2Servicer,), body)


def grpc_server(api: Api, host: str, port: int, workers: int) -> tuple[grpc.Server, int]:
    """A started server and the port it listens on (port 0 picks a free one)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingestd-grpc"),
        maximum_concurrent_rpcs=workers * 4,  # beyond that, RESOURCE_EXHAUSTED at once
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    service_pb2_grpc.add_V2Servicer_to_server(servicer_class()(api), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {host}:{port}")
    server.start()
    return server, bound
