"""`ingestd serve` on the embedded default, on free ports, with an API key of its app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingestd.api.server import Served, start
from pipeline.keys import Scope, new_key
from tests.support.storage import local_settings


@dataclass
class Server:
    served: Served
    secret: str  # a key of me/main with every scope

    @property
    def grpc_base(self) -> str:
        return f"http://127.0.0.1:{self.served.grpc_port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.served.http_port}"

    def key(self, scopes: list[Scope], user: str = "me", app: str = "main") -> str:
        key, secret = new_key(user, app, scopes)
        self.served.runtime.catalog.keys.add(key)
        return secret


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    settings = local_settings(tmp_path, grpc_port=0, http_port=0, api_wait_s=30.0)
    served = start(settings)
    try:
        yield Server(served, "")
    finally:
        served.stop()


@pytest.fixture
def api(server: Server) -> Server:
    server.secret = server.key([Scope.ALL])
    return server
