"""Fetching input URLs over HTTP(S) under an SSRF guard and size/time limits (`Fetcher`).

How the connected address is checked (DNS rebinding): each hop's host is resolved here and
every address checked, which refuses early and clearly; but that lookup is only advisory,
since urllib3 resolves again when it connects. The binding check is on the socket itself:
the connection classes below override urllib3's `_new_conn` and test `sock.getpeername()`
right after the TCP connect, before TLS and before one byte of the request is sent. So
whatever a resolver answered (or a URL parser understood), only an address that passed is
ever spoken to, while Host header, SNI and certificate checks stay those of the hostname.
Proxies and .netrc from the environment are ignored, so the peer is the origin server.

The overall deadline: a server dripping a byte at a time never trips a per-read timeout
(in TLS handshake, headers or body), so a watchdog timer shuts down every socket of the
fetch when the deadline passes (through a dup of each, which cannot outlive the fetch).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import IncompleteRead, LocationParseError, ProtocolError
from urllib3.util import parse_url

from pipeline.errors import InputError, TransientError
from pipeline.status import StatusCode

MB = 1024 * 1024
_CHUNK = 256 * 1024
BAD_URL, NO_CONN = StatusCode.INPUT_INVALID_URL, StatusCode.INPUT_CONNECTION_FAILED
_INVALID = (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HEADERS = {"User-Agent": "ingestd-fetch/0.1", "Accept-Encoding": "identity"}
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Cloud metadata endpoints (AWS/GCP/Azure, ECS, AWS IPv6, Alibaba, Oracle): refused even
# when an allow-list entry covers them.
_METADATA = frozenset(
    map(
        ipaddress.ip_address,
        [
            "169.254.169.254",
            "169.254.170.2",
            "169.254.170.23",
            "fd00:ec2::254",
            "fd00:ec2::23",
            "100.100.100.200",
            "192.0.0.192",
        ],
    )
)


class GuardedFetcher:
    """`fetch(url, max_bytes)`; `allow` lists hosts, IPs or CIDRs reachable although private.

    `timeout` bounds each connect and each read; `deadline` (default 10 x timeout) bounds the
    whole download, redirects included.
    """

    def __init__(
        self,
        allow: Sequence[str] = (),
        timeout: float = 30.0,
        max_redirects: int = 5,
        deadline: float | None = None,
    ) -> None:
        self.timeout, self.max_redirects = timeout, max_redirects
        self.deadline = deadline if deadline is not None else 10 * timeout
        self._hosts: set[str] = set()
        self._nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow:
            try:
                self._nets.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                self._hosts.add(_norm(entry))

    def check_address(self, host: str, addr: str) -> None:
        """Refuse `addr` (an address `host` resolved or connected to) unless it may be used."""
        host = _norm(host)
        for ip in _unwrap(ipaddress.ip_address(addr)):
            if ip in _METADATA:
                raise InputError(BAD_URL, f"{host!r} resolves to cloud metadata address {ip}")
            if _public(ip) or host in self._hosts or any(ip in net for net in self._nets):
                continue
            raise InputError(
                BAD_URL,
                f"{host!r} resolves to a private/loopback address ({ip}); "
                "add it to INGESTD_FETCH_ALLOW to permit",
            )

    def fetch(self, url: str, max_bytes: int) -> bytes:
        """The body of `url` in memory: for small things; media go through `fetch_to`."""
        body = bytearray()
        self._get(url, max_bytes, body.extend)
        return bytes(body)

    def fetch_to(self, url: str, max_bytes: int, dest: Path) -> int:
        """Write the body of `url` to `dest` as it arrives (never whole in memory); its size.

        The limit is enforced while reading; a refused or failed download leaves no file.
        """
        try:
            with dest.open("wb") as fh:
                return self._get(url, max_bytes, fh.write)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    def _get(self, url: str, max_bytes: int, write: Callable[[bytes], object]) -> int:
        start = time.monotonic()
        socks: list[socket.socket] = []  # dups of this fetch's sockets, for the watchdog
        watchdog = threading.Timer(self.deadline, shut_down_sockets, (socks,))
        adapter = HTTPAdapter(max_retries=0)
        adapter.poolmanager.pool_classes_by_scheme = guarded_pool_classes(self.check_address, socks)
        with requests.Session() as session:
            session.trust_env = False  # no proxies, no .netrc: the peer is the origin
            session.headers.update(_HEADERS)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            watchdog.start()
            try:
                return self._follow(session, [url], max_bytes, start, write)
            finally:
                watchdog.cancel()
                for sock in socks:
                    sock.close()

    def _follow(
        self,
        session: requests.Session,
        hops: list[str],
        limit: int,
        start: float,
        write: Callable[[bytes], object],
    ) -> int:
        """GET `hops[-1]`, following redirects by hand: every hop is checked like the first."""
        try:
            while len(hops) <= self.max_redirects + 1:
                self._check_url(hops[-1])
                get = session.get(
                    hops[-1], timeout=self.timeout, stream=True, allow_redirects=False
                )
                with get as resp:
                    if resp.status_code in _REDIRECTS and "Location" in resp.headers:
                        hops.append(urljoin(hops[-1], resp.headers["Location"]))
                        continue
                    _check_status(resp, hops[-1])
                    size = _read(resp, limit, write)
                if time.monotonic() - start < self.deadline:
                    return size
                raise requests.Timeout  # the watchdog cut it short
        except (requests.RequestException, Urllib3Error, OSError) as exc:
            where = redact(hops[-1])
            if time.monotonic() - start >= self.deadline:
                late = f"download of {where} took longer than {self.deadline:g} s"
                raise InputError(NO_CONN, late) from exc
            if isinstance(exc, _INVALID):
                raise InputError(BAD_URL, f"bad URL {where}") from None
            if _short_body(exc):
                raise InputError(
                    NO_CONN, f"{where} sent fewer bytes than its Content-Length announced"
                ) from None
            raise InputError(NO_CONN, f"cannot fetch {where}: {refusal_reason(exc)}") from exc
        raise InputError(
            BAD_URL, f"more than {self.max_redirects} redirects from {redact(hops[0])}"
        )

    def _check_url(self, url: str) -> None:
        try:
            parsed = parse_url(url)
        except LocationParseError:
            raise InputError(BAD_URL, f"bad URL {redact(url)}") from None
        scheme = (parsed.scheme or "").lower()
        if scheme not in ("http", "https"):
            shown = f"{scheme}:" if scheme else "(none)"
            raise InputError(BAD_URL, f"URL scheme {shown} is not allowed; only http: and https:")
        if not parsed.host:
            raise InputError(BAD_URL, f"no host in URL {redact(url)}")
        host = _norm(parsed.host)
        if host in self._hosts:
            return
        try:
            addrs = _resolve(host)
        except (OSError, UnicodeError) as exc:
            raise InputError(NO_CONN, f"cannot resolve {host!r}: {refusal_reason(exc)}") from None
        for addr in addrs:
            self.check_address(host, addr)


def _read(resp: requests.Response, max_bytes: int, write: Callable[[bytes], object]) -> int:
    """Hand the body to `write` piece by piece; refuse it once it passes `max_bytes`.

    A body longer than its Content-Length is never read past that length (the HTTP client
    stops there and the connection is dropped), so the announced length bounds it as well.
    """
    too_big = InputError(StatusCode.INPUT_OVER_LIMIT, f"download exceeds {_size(max_bytes)}")
    length = resp.headers.get("Content-Length", "").strip()
    if length.isdigit() and int(length) > max_bytes:
        raise too_big
    size = 0
    for chunk in resp.iter_content(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise too_big
        write(chunk)
    return size


def _short_body(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, IncompleteRead | ProtocolError) and "IncompleteRead" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _check_status(resp: requests.Response, url: str) -> None:
    code, where = resp.status_code, redact(url)
    if 200 <= code < 300:
        return
    if code in (404, 410):
        raise InputError(StatusCode.INPUT_DOES_NOT_EXIST, f"HTTP {code} for {where}")
    if code == 429 or code >= 500:
        wait = resp.headers.get("Retry-After", "").strip()
        hint = min(float(wait), 3600.0) if wait.isdigit() else 1.0
        raise TransientError(f"HTTP {code} for {where}", retry_after=hint)
    raise InputError(StatusCode.INPUT_FAILED, f"HTTP {code} for {where}")


def guarded_pool_classes(
    check: Callable[[str, str], None], socks: list[socket.socket]
) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pools whose sockets are checked right after connect (see the module doc)."""

    def checked(conn: HTTPConnection, sock: socket.socket) -> socket.socket:
        try:
            check(conn.host, str(sock.getpeername()[0]))
            socks.append(sock.dup())  # for the watchdog; TLS wrapping detaches `sock`
        except BaseException:
            sock.close()
            raise
        return sock

    class Conn(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return checked(self, super()._new_conn())

    class TLSConn(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return checked(self, super()._new_conn())

    class Pool(HTTPConnectionPool):
        ConnectionCls = Conn

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConn

    return {"http": Pool, "https": TLSPool}


def shut_down_sockets(socks: list[socket.socket]) -> None:
    for sock in list(socks):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _resolve(host: str) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]


def _public(ip: _IP) -> bool:
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or site_local)


def _unwrap(ip: _IP) -> list[_IP]:
    """The address, and any IPv4 address inside it (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return [ip]
    if ip.ipv4_mapped:
        return [ip.ipv4_mapped]
    inner = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
    if ip in _NAT64:
        inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return [ip, inner] if inner else [ip]


def _norm(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def refusal_reason(exc: BaseException) -> str:
    """The root cause in a few words (the exception chain's first OS error text)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError | requests.Timeout):
            return "timed out"
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__


def _size(n: int) -> str:
    return f"{n / MB:g} MB" if n >= MB else f"{n} bytes"


def redact(url: str) -> str:
    """The URL fit to quote: no user:password@, and the query (often a signature) elided."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc, query="..." if parts.query else ""))
