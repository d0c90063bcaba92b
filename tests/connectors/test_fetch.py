"""GuardedFetcher against a real HTTP server on 127.0.0.1 (nothing else is ever contacted).

Refusals of outside addresses (169.254.169.254, 10.0.0.1, ...) happen before any connect,
so those tests send no packet off the machine.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests.adapters

import connectors.fetch as fetch_mod
from connectors.fetch import GuardedFetcher
from pipeline.errors import InputError, TransientError
from pipeline.status import StatusCode
from tests.support.web import serving

BODY = bytes(range(256)) * 4  # 1024 bytes


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def reply(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        Handler.hits.append(self.path)
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        try:
            if path == "/ok":
                self.reply(200, BODY)
            elif path == "/redirect":
                self.reply(302, Location=query["to"][0])
            elif path == "/loop":
                self.reply(302, Location="/loop")
            elif path.startswith("/hops/"):
                left = int(path.rsplit("/", 1)[1])
                self.reply(302, Location=f"/hops/{left - 1}") if left else self.reply(200, BODY)
            elif path == "/chunked":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(BODY), 100):
                    piece = BODY[i : i + 100]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            elif path == "/lying-length":  # claims 1 GB, sends 10 bytes and hangs up
                self.send_response(200)
                self.send_header("Content-Length", str(10**9))
                self.end_headers()
                self.wfile.write(b"x" * 10)
                self.close_connection = True
            elif path == "/drip":  # 100 bytes, one every 50 ms: never a read timeout
                self.send_response(200)
                self.send_header("Content-Length", "100")
                self.end_headers()
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            elif path == "/drip-headers":  # a header line one byte every 50 ms
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for byte in b"X-Slow: " + b"y" * 100 + b"\r\n\r\n":
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.05)
            elif path.startswith("/status/"):
                self.reply(int(path.rsplit("/", 1)[1]), b"nope", Retry_After="7")
            else:
                self.reply(404)
        except OSError:  # the client hung up (as it should on refusals)
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # resets from refusals are fine
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(Server(("127.0.0.1", 0), Handler)) as url:
        yield url


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The same handler over TLS, with a self-signed certificate for the name localhost only."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    with serving(httpd, "https", "localhost") as url:
        yield url, str(cert_file)


@pytest.fixture
def fetcher() -> GuardedFetcher:
    return GuardedFetcher(allow=["127.0.0.1"], timeout=2.0, max_redirects=5)


def refused(
    fetcher: GuardedFetcher,
    url: str,
    code: StatusCode = StatusCode.INPUT_INVALID_URL,
    max_bytes: int = 10_000,
) -> InputError:
    with pytest.raises(InputError) as info:
        fetcher.fetch(url, max_bytes)
    assert info.value.code == code, info.value
    return info.value


def test_fetch_ok_with_allow_list(server: str, fetcher: GuardedFetcher) -> None:
    assert fetcher.fetch(f"{server}/ok", 10_000) == BODY


@pytest.mark.parametrize(
    ("allow", "host"),
    [
        (["127.0.0.0/8"], "127.0.0.1"),
        (["localhost"], "localhost"),
        (["::1", "127.0.0.1"], "127.0.0.1"),
    ],
)
def test_allow_cidr_and_hostname(server: str, allow: list[str], host: str) -> None:
    url = f"{server}/ok".replace("127.0.0.1", host)
    assert GuardedFetcher(allow=allow, timeout=2.0).fetch(url, 10_000) == BODY


def test_same_server_refused_without_allow_list(server: str) -> None:
    err = refused(GuardedFetcher(), f"{server}/ok")
    assert "private/loopback" in err.message and "INGESTD_FETCH_ALLOW" in err.message


def test_localhost_name_refused_without_allow_list(server: str) -> None:
    err = refused(GuardedFetcher(), f"{server}/ok".replace("127.0.0.1", "localhost"))
    assert "'localhost' resolves to a private/loopback address" in err.message


def test_connected_address_is_checked_not_only_the_lookup(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the fetcher's own lookup sees a public address, but the socket urllib3
    opens lands on 127.0.0.1; the peer check refuses before a byte of the request is sent."""
    monkeypatch.setattr(fetch_mod, "_resolve", lambda host: ["93.184.216.34"])
    tls = f"{server}/ok".replace("http:", "https:")  # refused before the TLS handshake
    for url in (f"{server}/ok", f"{server}/ok".replace("127.0.0.1", "localhost"), tls):
        Handler.hits.clear()
        err = refused(GuardedFetcher(), url)
        assert "private/loopback" in err.message
        assert Handler.hits == []


def test_https_keeps_hostname_verification(
    tls_server: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS still verifies the certificate against the URL's host name, not the checked IP."""
    url, ca_file = tls_server
    fetcher = GuardedFetcher(allow=["localhost", "127.0.0.1"], timeout=2.0)
    err = refused(fetcher, f"{url}/ok", StatusCode.INPUT_CONNECTION_FAILED)  # not trusted yet
    assert "certificate verify failed" in err.message
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", ca_file)
    assert fetcher.fetch(f"{url}/ok", 10_000) == BODY
    by_ip = url.replace("localhost", "127.0.0.1")  # the certificate names localhost only
    err = refused(fetcher, f"{by_ip}/ok", StatusCode.INPUT_CONNECTION_FAILED)
    assert "certificate verify failed" in err.message
    refused(GuardedFetcher(), f"{url}/ok")  # and the guard applies to https as well


def test_redirect_to_metadata_refused(server: str, fetcher: GuardedFetcher) -> None:
    err = refused(fetcher, f"{server}/redirect?to=http://169.254.169.254/latest/meta-data/")
    assert "metadata" in err.message


@pytest.mark.parametrize(
    "to",
    [
        "http://10.0.0.1/",
        "http://[::ffff:10.0.0.1]/",
        "http://0x7f000002/",
        "/redirect?to=http://192.168.1.1/",
    ],
)
def test_redirect_to_private_refused(server: str, fetcher: GuardedFetcher, to: str) -> None:
    err = refused(fetcher, f"{server}/redirect?to={to}")
    assert "private/loopback" in err.message


def test_redirects_followed_up_to_the_limit(server: str, fetcher: GuardedFetcher) -> None:
    assert fetcher.fetch(f"{server}/hops/5", 10_000) == BODY
    err = refused(fetcher, f"{server}/hops/6")
    assert "more than 5 redirects" in err.message


def test_redirect_loop_refused(server: str, fetcher: GuardedFetcher) -> None:
    Handler.hits.clear()
    err = refused(fetcher, f"{server}/loop")
    assert "redirects" in err.message and Handler.hits == ["/loop"] * 6


@pytest.mark.parametrize("path", ["/ok", "/chunked"])
def test_body_over_limit_refused(server: str, fetcher: GuardedFetcher, path: str) -> None:
    assert fetcher.fetch(f"{server}{path}", len(BODY)) == BODY  # at the limit is fine
    err = refused(fetcher, f"{server}{path}", StatusCode.INPUT_OVER_LIMIT, len(BODY) - 1)
    assert err.message == f"download exceeds {len(BODY) - 1} bytes"


def test_content_length_over_limit_refused_before_reading(
    server: str, fetcher: GuardedFetcher
) -> None:
    url = f"{server}/lying-length"
    err = refused(fetcher, url, StatusCode.INPUT_OVER_LIMIT, 20 * 1024 * 1024)
    assert err.message == "download exceeds 20 MB"


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_slow_drip_stopped_by_deadline(server: str, path: str) -> None:
    slow = GuardedFetcher(allow=["127.0.0.1"], timeout=1.0, deadline=0.5)
    began = time.monotonic()
    err = refused(slow, f"{server}{path}", StatusCode.INPUT_CONNECTION_FAILED)
    assert "longer than 0.5 s" in err.message
    assert time.monotonic() - began < 1.5


@pytest.mark.parametrize("status", [404, 410])
def test_missing_is_does_not_exist(server: str, fetcher: GuardedFetcher, status: int) -> None:
    err = refused(fetcher, f"{server}/status/{status}", StatusCode.INPUT_DOES_NOT_EXIST)
    assert err.message == f"HTTP {status} for {server}/status/{status}"


def test_other_client_error_is_input_failed(server: str, fetcher: GuardedFetcher) -> None:
    refused(fetcher, f"{server}/status/403", StatusCode.INPUT_FAILED)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_error_is_transient(server: str, fetcher: GuardedFetcher, status: int) -> None:
    with pytest.raises(TransientError) as info:
        fetcher.fetch(f"{server}/status/{status}", 10_000)
    assert info.value.retry_after == 7.0 and f"HTTP {status}" in info.value.message


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1:70/_x",
        "data:text/plain,hi",
        "127.0.0.1/x",
        "//127.0.0.1/x",
        "javascript:alert(1)",
    ],
)
def test_non_http_scheme_refused(fetcher: GuardedFetcher, url: str) -> None:
    assert "scheme" in refused(fetcher, url).message


def test_connection_refused_on_closed_port(fetcher: GuardedFetcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    err = refused(fetcher, f"http://127.0.0.1:{port}/", StatusCode.INPUT_CONNECTION_FAILED)
    assert "refused" in err.message.lower()


def test_unresolvable_host(fetcher: GuardedFetcher, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(host: str) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(fetch_mod, "_resolve", no_such_host)  # no DNS query leaves the host
    err = refused(fetcher, "http://nonexistent.invalid/x", StatusCode.INPUT_CONNECTION_FAILED)
    assert err.message == "cannot resolve 'nonexistent.invalid': Name or service not known"


@pytest.mark.parametrize(
    "url",
    [
        "http://user:s3cret@10.0.0.1/x",
        "ftp://user:s3cret@example.com/",
        "http://user:s3cret@{}/status/404",
        "http://user:s3cret@{}/redirect?to=http://user:s3cret@10.0.0.1/",
    ],
)
def test_credentials_never_in_messages(server: str, fetcher: GuardedFetcher, url: str) -> None:
    with pytest.raises(InputError) as info:
        fetcher.fetch(url.format(server.removeprefix("http://")), 10_000)
    assert "s3cret" not in str(info.value) and "user:" not in str(info.value)


@pytest.mark.parametrize(
    "addr",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.100.100.200",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",
        "64:ff9b::a00:1",
        "ff02::1",
        "fec0::1",
        "::127.0.0.1",
    ],
)
def test_non_public_addresses_refused(addr: str) -> None:
    with pytest.raises(InputError) as info:
        GuardedFetcher().check_address("example.com", addr)
    assert info.value.code == StatusCode.INPUT_INVALID_URL


@pytest.mark.parametrize("addr", ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(addr: str) -> None:
    GuardedFetcher().check_address("example.com", addr)


def test_metadata_refused_even_if_allowed() -> None:
    fetcher = GuardedFetcher(allow=["169.254.0.0/16", "metadata.google.internal"])
    with pytest.raises(InputError, match="metadata"):
        fetcher.check_address("metadata.google.internal", "169.254.169.254")
