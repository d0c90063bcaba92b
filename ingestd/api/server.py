"""One `ingestd serve` process: the runtime, the gRPC and HTTP servers, graceful shutdown."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field

import grpc

from ingestd.api.grpc_server import grpc_server
from ingestd.api.http_server import http_server
from ingestd.api.http_wire import WireServer
from ingestd.api.media_links import public_url
from ingestd.api.service import Api
from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings

log = logging.getLogger("ingestd.api")
_GRACE_S = 10.0  # calls in flight get this long to finish on shutdown


@dataclass
class Served:
    """A running server: its ports, and how to stop it."""

    runtime: Runtime
    grpc: grpc.Server
    http: WireServer
    grpc_port: int
    http_port: int
    ready: threading.Event = field(default_factory=threading.Event)
    api: Api | None = None

    def stop(self) -> None:
        """Refuse new calls, let those in flight finish, then close the runtime (which
        drains the embedded bus)."""
        self.ready.clear()
        self.grpc.stop(_GRACE_S).wait(_GRACE_S + 1)
        self.http.stop(_GRACE_S)
        if self.api is not None:
            self.api.close()
        self.runtime.close()


def start(settings: Settings) -> Served:
    runtime = Runtime.open(settings)
    try:
        api = Api(runtime, wait_s=settings.api_wait_s)
        ready = threading.Event()
        g, gport = grpc_server(api, settings)
        h, hport = http_server(api, settings, ready)
        api.exports.base_url = public_url(settings, hport)
    except BaseException:
        runtime.close()
        raise
    if not runtime.kafka_mode:
        runtime.bus  # noqa: B018 - start the stages before the first call
    ready.set()
    return Served(runtime, g, h, gport, hport, ready, api)


def serve_forever(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully."""
    served = start(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.warning(
        "ingestd serve: gRPC on %s:%d, HTTP on %s:%d",
        settings.api_host,
        served.grpc_port,
        settings.api_host,
        served.http_port,
    )
    stop.wait()
    served.stop()
