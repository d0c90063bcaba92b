"""GuardedFetcher.fetch_to: bodies written to a file as they arrive, limits enforced while
reading, bodies that do not match their Content-Length refused or cut at it."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from connectors.fetch import GuardedFetcher
from pipeline.errors import InputError
from pipeline.status import StatusCode
from tests.support.web import serving

BODY = bytes(range(256)) * 4  # 1024 bytes


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def head(self, length: int | None) -> None:
        self.send_response(200)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def do_GET(self) -> None:
        try:
            if self.path == "/ok":
                self.head(len(BODY))
                self.wfile.write(BODY)
            elif self.path == "/chunked":
                self.head(None)
                for i in range(0, len(BODY), 100):
                    piece = BODY[i : i + 100]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            elif self.path == "/short":  # announces 2000 bytes, sends 1024, hangs up
                self.head(2000)
                self.wfile.write(BODY)
                self.close_connection = True
            elif self.path == "/surplus":  # announces 1024 bytes and sends 1 MB more
                self.head(len(BODY))
                self.wfile.write(BODY + b"z" * 2**20)
                self.close_connection = True
        except OSError:  # the client hung up (as it should on refusals)
            self.close_connection = True


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    with serving(httpd) as url:
        yield url


@pytest.fixture
def fetcher() -> GuardedFetcher:
    return GuardedFetcher(allow=["127.0.0.1"], timeout=2.0)


@pytest.mark.parametrize("path", ["/ok", "/chunked"])
def test_fetch_to_writes_the_body_to_a_file(
    server: str, fetcher: GuardedFetcher, tmp_path: Path, path: str
) -> None:
    dest = tmp_path / "body"
    assert fetcher.fetch_to(f"{server}{path}", len(BODY), dest) == len(BODY)
    assert dest.read_bytes() == BODY


@pytest.mark.parametrize("path", ["/ok", "/chunked", "/short"])
def test_fetch_to_refused_leaves_no_file(
    server: str, fetcher: GuardedFetcher, tmp_path: Path, path: str
) -> None:
    dest = tmp_path / "body"
    with pytest.raises(InputError) as info:
        fetcher.fetch_to(f"{server}{path}", len(BODY) - 1, dest)
    assert info.value.code == StatusCode.INPUT_OVER_LIMIT
    assert not dest.exists()


def test_body_shorter_than_announced_refused(
    server: str, fetcher: GuardedFetcher, tmp_path: Path
) -> None:
    dest = tmp_path / "body"
    with pytest.raises(InputError) as info:
        fetcher.fetch_to(f"{server}/short", 10 * len(BODY), dest)
    assert info.value.code == StatusCode.INPUT_CONNECTION_FAILED
    assert (
        info.value.message == f"{server}/short sent fewer bytes than its Content-Length announced"
    )
    assert not dest.exists()


def test_body_longer_than_announced_is_never_read_past_it(
    server: str, fetcher: GuardedFetcher, tmp_path: Path
) -> None:
    dest = tmp_path / "body"
    assert fetcher.fetch_to(f"{server}/surplus", 10 * len(BODY), dest) == len(BODY)
    assert dest.read_bytes() == BODY
    assert fetcher.fetch(f"{server}/surplus", 10 * len(BODY)) == BODY
