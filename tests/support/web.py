"""HTTP servers on loopback for tests: a handler of the test's own, or a folder of files."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def serving(
    httpd: http.server.HTTPServer, scheme: str = "http", host: str = "127.0.0.1"
) -> Iterator[str]:
    """`httpd` answering on a thread of its own; yields its base URL, then shuts it."""
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"{scheme}://{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # no line per request
        pass


def serving_folder(folder: Path) -> AbstractContextManager[str]:
    """The files of `folder` over HTTP on 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietFiles, directory=str(folder))
    return serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler))
