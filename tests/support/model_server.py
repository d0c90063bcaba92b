"""A real HTTP model server on 127.0.0.1 for post-queue tests (http.server in a thread)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

COLORS = {(255, 0, 0): "red", (0, 0, 255): "blue", (0, 128, 0): "green"}


def caption_of(item: dict[str, Any]) -> str:
    """A caption from the image's colour: the model really looks at the bytes it was sent."""
    image = item["data"]["image"]
    with Image.open(io.BytesIO(base64.b64decode(image["base64"]))) as img:
        rgb = img.convert("RGB").getpixel((img.width // 2, img.height // 2))
    name = min(COLORS, key=lambda c: sum((a - b) ** 2 for a, b in zip(c, rgb, strict=True)))
    return f"a {COLORS[name]} picture"


class ModelServer:
    """Paths: /caption, /concepts, /empty, /slow, /error, /garbage, /bad-request."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                server.hits[self.path] += 1
                server.headers.append(dict(self.headers))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                item = body["inputs"][0]
                if self.path == "/slow":
                    time.sleep(2)
                    return self._send(200, {"text": "too late"})
                if self.path == "/error":
                    return self._send(500, {"error": "out of GPU memory"})
                if self.path == "/bad-request":
                    return self._send(400, {"error": "unsupported input"})
                if self.path == "/garbage":
                    return self._raw(200, b"<html>surprise</html>")
                if self.path == "/empty":
                    return self._send(200, {"outputs": [{"data": {}}]})
                if self.path == "/concepts":
                    return self._send(
                        200,
                        {
                            "outputs": [
                                {
                                    "data": {
                                        "concepts": [
                                            {"id": "cat", "value": 0.97},
                                            {"id": "dog", "value": 0.4},
                                        ]
                                    }
                                }
                            ]
                        },
                    )
                return self._send(200, {"text": caption_of(item)})

            def _send(self, code: int, payload: Any) -> None:
                self._raw(code, json.dumps(payload).encode())

            def _raw(self, code: int, data: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ModelServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
