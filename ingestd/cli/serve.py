"""`ingestd serve`: the command only; the server is ingestd.api."""

from __future__ import annotations

import typer

from ingestd.cli.options import JsonOpt, fail
from ingestd.cli.state import settings


def serve(
    grpc_port: int | None = typer.Option(
        None, "--grpc-port", help="gRPC port (INGESTD_GRPC_PORT, default 18080)."
    ),
    http_port: int | None = typer.Option(
        None, "--http-port", help="HTTP port (INGESTD_HTTP_PORT, default 8080)."
    ),
    host: str | None = typer.Option(
        None, "--host", help="Address to bind (INGESTD_API_HOST, default 127.0.0.1)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Serve the platform's API (the official SDK's gRPC, and HTTP+JSON) until SIGTERM/SIGINT."""
    del as_json  # the server logs JSON lines; the option makes errors JSON too
    from ingestd.api.server import serve_forever

    given = {"grpc_port": grpc_port, "http_port": http_port, "api_host": host}
    try:
        serve_forever(
            settings().model_copy(update={k: v for k, v in given.items() if v is not None})
        )
    except OSError as exc:  # a port taken, an address not ours
        fail(f"cannot serve: {exc}")
    except Exception as exc:  # the catalog or blob store cannot be opened, as open_runtime says
        fail(f"cannot open ingestd storage: {exc}")
