"""In-process S3 endpoint for tests, backed by moto's ThreadedMotoServer.

Usage::

    with MotoS3Server() as s3:
        client = s3.client()
        client.create_bucket(Bucket="media")
        ...
        s3.stop()      # S3 "outage": new connections are refused
        s3.start()     # back on the same port / endpoint_url

Notes
-----
* State (buckets/objects) lives in moto's process-global backends, not in
  the server object, so it *survives* ``stop()``/``start()``/``restart()``
  within the same Python process. Call ``reset()`` to wipe it. For the same
  reason, entering ``moto.mock_aws`` anywhere in the same process wipes this
  server's state too (verified with moto 5.2.5) -- don't mix the two.
* After ``stop()`` new requests fail fast with EndpointConnectionError
  (werkzeug closes the listening socket when serve_forever() returns and
  sends ``Connection: close`` on every response, so boto3 keeps no live
  pooled connections). Requests *in flight* at ``stop()`` (e.g. a slow
  multipart part upload) would however run to completion in their handler
  threads; this wrapper shuts those sockets down too, so an outage is
  immediate.
* ``ThreadedMotoServer.start()`` blocks forever if it cannot bind (the
  exception dies in its thread); we check the port is bindable first and
  fail fast instead.
* werkzeug's per-request access log is silenced by default (``quiet``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import urllib.request
from abc import ABC, abstractmethod
from typing import Any, Self

from moto.server import ThreadedMotoServer

__all__ = ["DUMMY_CREDENTIALS", "REGION", "MotoS3Server", "S3Server", "free_port"]

REGION = "us-east-1"
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class S3Server(ABC):
    """What tests use of an S3 server on loopback: moto's (`MotoS3Server`) or versitygw
    (`VersityGateway`). Each starts and stops its own way; clients are made alike."""

    host: str
    port: int
    access_key_id: str
    secret_access_key: str

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def stop(self) -> None: ...

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def restart(self) -> Self:
        """Stop and start again on the same port; what the server stored is kept."""
        self.stop()
        return self.start()

    def client_kwargs(self) -> dict[str, Any]:
        """kwargs for boto3.client("s3", **kw) / the app's own S3 config."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": REGION,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }

    def client(self, **config_kwargs: Any) -> Any:
        """A boto3 S3 client pointed at this server (path-style addressing).

        Extra keyword arguments go to botocore.config.Config (e.g. retries,
        connect_timeout) and are merged over the defaults.
        """
        import boto3
        from botocore.config import Config

        cfg: dict[str, Any] = {"s3": {"addressing_style": "path"}}
        cfg.update(config_kwargs)
        return boto3.client("s3", config=Config(**cfg), **self.client_kwargs())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _check_bindable(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Same option werkzeug uses, so TIME_WAIT leftovers don't count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise RuntimeError(
                f"cannot start moto S3 server: {host}:{port} unavailable ({e})"
            ) from e


class MotoS3Server(S3Server):
    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, *, quiet: bool = True
    ) -> None:
        if quiet:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.host = host
        self.port = port or free_port(host)
        self.access_key_id = DUMMY_CREDENTIALS["aws_access_key_id"]
        self.secret_access_key = DUMMY_CREDENTIALS["aws_secret_access_key"]
        self._server: ThreadedMotoServer | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ properties
    @property
    def running(self) -> bool:
        return self._server is not None

    # ----------------------------------------------------------- lifecycle
    def start(self) -> Self:
        if self._server is not None:
            return self
        _check_bindable(self.host, self.port)
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        self._track_connections(server)
        self._server = server
        return self

    def _track_connections(self, server: ThreadedMotoServer) -> None:
        wsgi = server._server  # werkzeug ThreadedWSGIServer (socketserver API)
        if wsgi is None:
            return
        orig_process = wsgi.process_request
        orig_shutdown_request = wsgi.shutdown_request

        def process_request(request: socket.socket, client_address: Any) -> None:
            with self._lock:
                self._conns.add(request)
            orig_process(request, client_address)

        def shutdown_request(request: socket.socket) -> None:
            with self._lock:
                self._conns.discard(request)
            orig_shutdown_request(request)

        wsgi.process_request = process_request  # type: ignore[method-assign,assignment]
        wsgi.shutdown_request = shutdown_request  # type: ignore[method-assign,assignment]

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()  # stops serve_forever()
        if server._server is not None:
            server._server.server_close()  # werkzeug already does this; harmless if repeated
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:  # drop keep-alive connections still being served
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        """Wipe all moto state (all services) via moto's reset API."""
        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    def __repr__(self) -> str:
        return f"<MotoS3Server {'running' if self.running else 'stopped'} {self.endpoint_url}>"
