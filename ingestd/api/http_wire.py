"""HTTP/1.1 on asyncio for `ingestd serve`: requests read under limits, handled on a thread
pool.

A connection costs a coroutine, not a thread, until its request is read whole, so clients
that stall cannot hold the server: the request line and headers must arrive within
`header_timeout_s` (also the keep-alive idle time), the body within `body_timeout_s`, or the
connection is closed. A body over the limit is refused from its Content-Length before a
byte of it is read, and a chunked body as soon as it passes the limit. Bodies held in
memory at once are bounded (`buffered_mb`; later ones wait their turn), and so are the
connections (`max_connections`; beyond, an immediate 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from ingestd.app.settings import ApiLimits
from pipeline.status import StatusCode

_MAX_HEAD = 64 * 1024  # request line and headers
_CHUNK = 1 << 20  # a streamed body is read and sent this much at a time
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}
_REASONS |= {404: "Not Found", 408: "Request Timeout", 413: "Content Too Large"}
_REASONS |= {500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Request:
    method: str
    target: str  # path and query
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass
class Response:
    code: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: BinaryIO | None = None  # a file sent after `body`, a chunk at a time, then closed


class Refused(Exception):
    """A request refused while it is read: answered, then the connection is closed."""

    def __init__(self, http: int, code: StatusCode, message: str) -> None:
        super().__init__(message)
        self.http, self.code, self.message = http, code, message


Handler = Callable[[Request], Response]
Refusal = Callable[[Refused], Response]  # the body of a refusal (the platform's Status)


class _Budget:
    """Bytes of request bodies in memory at once: a request waits for its share."""

    def __init__(self, cap: int) -> None:
        self.cap, self.used = cap, 0
        self._changed = asyncio.Condition()

    async def take(self, n: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + n <= self.cap)
            self.used += n

    async def give(self, n: int) -> None:
        async with self._changed:
            self.used -= n
            self._changed.notify_all()


class WireServer:
    def __init__(
        self, handle: Handler, refusal: Refusal, limits: ApiLimits, max_body: int, workers: int
    ) -> None:
        self.handle, self.refusal, self.limits, self.max_body = handle, refusal, limits, max_body
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingestd-http")
        self.loop = asyncio.new_event_loop()
        self.open = 0
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="ingestd-http")

    def start(self, host: str, port: int) -> int:
        """Listen (port 0: a free one) and serve on a thread of its own; the bound port."""
        self._thread.start()
        self._budget = _Budget(max(self.limits.buffered_mb * 1024 * 1024, self.max_body))
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._connection, host, port, limit=_MAX_HEAD), self.loop
        )
        self._server = started.result(10)
        return int(self._server.sockets[0].getsockname()[1])

    def stop(self, grace_s: float) -> None:
        """No new connections; requests being handled get `grace_s`; then everything closes."""
        if self._server is not None:
            self.loop.call_soon_threadsafe(self._server.close)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(grace_s)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open >= self.limits.max_connections:
            refused = Refused(
                503, StatusCode.RPC_REQUEST_QUEUE_FULL, "the server is busy; try again shortly"
            )
            await self._finish(writer, self.refusal(refused), close=True)
            return
        self.open += 1
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away or stalled: nothing was handled for it
        finally:
            self.open -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read, handle and answer one request; False when the connection is done."""
        try:
            async with asyncio.timeout(self.limits.header_timeout_s):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        except asyncio.LimitOverrunError:
            refused = Refused(400, StatusCode.CONN_INVALID_REQUEST, "request headers too long")
            await self._finish(writer, self.refusal(refused), close=True)
            return False
        held = 0
        try:
            request = _parse_head(head)
            size = _declared_size(request, self.max_body)
            try:
                async with asyncio.timeout(self.limits.body_timeout_s):
                    if size is None:
                        request.body, held = await self._chunked(reader)
                    elif size:
                        await self._budget.take(size)
                        held = size
                        request.body = await reader.readexactly(size)
            except TimeoutError:
                raise Refused(
                    408, StatusCode.RPC_REQUEST_TIMEOUT, "the request body came too slowly"
                ) from None
            response = await self.loop.run_in_executor(self.pool, self.handle, request)
        except Refused as refused:
            await self._finish(writer, self.refusal(refused), close=True)
            return False
        finally:
            if held:
                await self._budget.give(held)
        close = request.headers.get("connection", "").lower() == "close"
        await self._finish(writer, response, close=close)
        return not close

    async def _chunked(self, reader: asyncio.StreamReader) -> tuple[bytes, int]:
        """A chunked body, refused as soon as it passes the limit; (body, bytes held)."""
        parts: list[bytes] = []
        held = 0
        try:
            while True:
                line = await reader.readuntil(b"\r\n")
                try:
                    n = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise Refused(
                        400, StatusCode.CONN_BAD_REQUEST_FORMAT, "bad chunk size line"
                    ) from None
                if n == 0:
                    await _trailer(reader)
                    return b"".join(parts), held
                if held + n > self.max_body:
                    raise Refused(
                        413, StatusCode.CONN_EXCEEDS_LIMITS, f"body over {self.max_body} bytes"
                    )
                await self._budget.take(n)
                held += n
                parts.append(await reader.readexactly(n))
                if await reader.readexactly(2) != b"\r\n":
                    raise Refused(400, StatusCode.CONN_BAD_REQUEST_FORMAT, "bad chunk ending")
        except BaseException:
            if held:
                await self._budget.give(held)
            raise

    async def _finish(self, writer: asyncio.StreamWriter, response: Response, close: bool) -> None:
        try:
            await self._send(writer, response, close)
        finally:
            if response.stream is not None:
                response.stream.close()

    async def _send(self, writer: asyncio.StreamWriter, response: Response, close: bool) -> None:
        reason = _REASONS.get(response.code, "")
        size = len(response.body)
        if response.stream is not None:
            size += os.fstat(response.stream.fileno()).st_size - response.stream.tell()
        lines = [
            f"HTTP/1.1 {response.code} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {size}",
            *(f"{k}: {v}" for k, v in response.headers.items()),
            *(["Connection: close"] if close else []),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)
        # A client that does not read its answer is dropped like one that does not send.
        async with asyncio.timeout(self.limits.body_timeout_s):
            await writer.drain()
        while response.stream is not None:  # memory: one chunk per download at a time
            chunk = await self.loop.run_in_executor(self.pool, response.stream.read, _CHUNK)
            if not chunk:
                break
            writer.write(chunk)
            async with asyncio.timeout(self.limits.body_timeout_s):
                await writer.drain()


async def _trailer(reader: asyncio.StreamReader) -> None:
    while (await reader.readuntil(b"\r\n")) != b"\r\n":
        pass


def _parse_head(head: bytes) -> Request:
    try:
        text = head.decode("latin-1")
        first, *lines = text.split("\r\n")
        method, target, version = first.split(" ")
        if not version.startswith("HTTP/1."):
            raise ValueError(version)
        headers: dict[str, str] = {}
        for line in lines:
            if line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
    except ValueError:
        raise Refused(400, StatusCode.CONN_BAD_REQUEST_FORMAT, "malformed HTTP request") from None
    if version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers["connection"] = "close"
    return Request(method, target, headers)


def _declared_size(request: Request, max_body: int) -> int | None:
    """The Content-Length (0 when none), None for a chunked body; refused over the limit."""
    if "chunked" in request.headers.get("transfer-encoding", "").lower():
        return None
    raw = request.headers.get("content-length", "0") or "0"
    if not raw.isdigit():
        raise Refused(400, StatusCode.CONN_BAD_REQUEST_FORMAT, "bad Content-Length")
    size = int(raw)
    if size > max_body:
        raise Refused(413, StatusCode.CONN_EXCEEDS_LIMITS, f"body over {max_body} bytes")
    return size
