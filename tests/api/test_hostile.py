"""Hostile clients of `ingestd serve`: stalled and oversized requests, malformed messages.
Each is answered with the platform's status code; the server stays up, its memory bounded,
and nothing is half-written."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc

from connectors.catalog.sql import SqlCatalog
from ingestd.api.server import start
from pipeline.keys import Scope, new_key
from pipeline.limits import Limits
from pipeline.status import StatusCode
from tests.api.conftest import Server
from tests.api.test_grpc import APP, _meta, _stub
from tests.support.kafka_broker import free_port
from tests.support.kafka_harness import wait_for


def _post(port: int, path: str, body: bytes, secret: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Authorization": f"Key {secret}", "Content-Type": "application/json"}
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server has answered or closed this stalled connection."""
    sock.setblocking(False)
    try:
        return sock.recv(4096) is not None  # b"" (closed) or an answer (408)
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.fixture
def subprocess_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, str]]:
    catalog_url = f"sqlite:///{tmp_path}/catalog.db"
    catalog = SqlCatalog(catalog_url)
    key, secret = new_key("me", "main", [Scope.ALL])
    catalog.keys.add(key)
    catalog.close()
    port = free_port()
    env = os.environ | {
        "INGESTD_CATALOG": catalog_url,
        "INGESTD_BLOBS": f"file://{tmp_path}/blobs",
        "INGESTD_HTTP_PORT": str(port),
        "INGESTD_GRPC_PORT": str(free_port()),
        "INGESTD_API_LIMITS__HEADER_TIMEOUT_S": "2",
        "INGESTD_API_LIMITS__BODY_TIMEOUT_S": "2",
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ingestd.cli import main; main()", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    try:
        wait_for(ready, 60, "ingestd serve to listen", every=0.2)
        yield proc, port, secret
    finally:
        proc.terminate()
        proc.wait(30)


def test_stalling_clients_do_not_hold_the_server(
    subprocess_server: tuple[subprocess.Popen[bytes], int, str], tmp_path: Path
) -> None:
    proc, port, secret = subprocess_server
    baseline = _rss_kb(proc.pid)
    stalled: list[socket.socket] = []
    for n in range(60):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if n % 2:  # headers cut short
            s.sendall(b"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nAuthorization: Key ")
        else:  # a body promised and never finished: nothing of it may be stored
            body = json.dumps({"inputs": [{"id": f"stall{n}", "data": {"text": {"raw": "x"}}}]})
            head = f"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body) + 50}\r\n"
            s.sendall(f"{head}Authorization: Key {secret}\r\n\r\n{body}".encode())
        stalled.append(s)

    def good(n: int) -> tuple[int, int]:
        body = json.dumps({"inputs": [{"id": f"ok{n}", "data": {"text": {"raw": f"t{n}"}}}]})
        code, answer = _post(port, "/v2/inputs", body.encode(), secret)
        return code, answer["status"]["code"]

    peak = 0
    with ThreadPoolExecutor(140) as pool:
        answers = list(pool.map(good, range(140)))
        peak = max(peak, _rss_kb(proc.pid))
    assert answers == [(200, StatusCode.SUCCESS)] * 140
    wait_for(lambda: all(_closed_by_server(s) for s in stalled), 60, "stalled clients dropped")
    for s in stalled:
        s.close()
    assert proc.poll() is None
    peak = max(peak, _rss_kb(proc.pid))
    assert peak - baseline < 300 * 1024  # kB: 200 clients cost no more than this
    catalog = SqlCatalog(f"sqlite:///{tmp_path}/catalog.db")
    rows = list(catalog.iter_inputs("me", "main"))
    assert sorted(r["id"] for r in rows) == sorted(f"ok{n}" for n in range(140))
    assert {r["status_code"] for r in rows} == {StatusCode.INPUT_SUCCESS}


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Server]:
    from tests.support.storage import local_settings

    settings = local_settings(
        tmp_path, grpc_port=0, http_port=0, limits=Limits(batch_bytes=64 * 1024)
    )
    served = start(settings)
    key, secret = new_key("me", "main", [Scope.ALL])
    served.runtime.catalog.keys.add(key)
    try:
        yield Server(served, secret)
    finally:
        served.stop()


def _raw(port: int, head: bytes, chunks: Iterator[bytes] = iter(())) -> bytes:
    """Send a request head, then chunks until the server answers; its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        for chunk in chunks:
            try:
                s.sendall(chunk)
            except OSError:
                break  # the server stopped reading: it has refused the body
        s.settimeout(30)
        return s.recv(65536)


def test_bodies_over_the_limit_are_refused_unread(small: Server) -> None:
    port = small.served.http_port
    head = b"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n"
    answer = _raw(port, head)  # no byte of the body sent: refused from its length
    assert answer.startswith(b"HTTP/1.1 413") and b"11006" in answer
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        while sent < 512 * 1024 * 1024:  # far past the limit; the server stops it first
            sent += 256 * 1024
            yield b"40000\r\n" + b"x" * 256 * 1024 + b"\r\n"

    chunked = b"POST /v2/inputs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = _raw(port, chunked, chunks())
    assert answer.startswith(b"HTTP/1.1 413") and b"11006" in answer
    assert sent < 64 * 1024 * 1024
    code, _ = _post(port, "/v2/inputs", b'{"inputs": []}', small.secret)
    assert code == 400  # still serving
    with pytest.raises(grpc.RpcError) as err:
        _stub(small).PostInputs(
            svc.PostInputsRequest(
                user_app_id=APP,
                inputs=[res.Input(data=res.Data(text=res.Text(raw="x" * 2 * 1024 * 1024)))],
            ),
            metadata=_meta(small.secret),
        )
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


BAD_BODIES = [
    (b'{"inputs": [', StatusCode.CONN_BAD_REQUEST_FORMAT),  # broken JSON
    (b'{"inputs": [], "colour": 1}', StatusCode.CONN_BAD_REQUEST_FORMAT),  # unknown field
    (b'{"inputs": "many"}', StatusCode.CONN_BAD_REQUEST_FORMAT),  # wrong type
    (b'{"inputs": [{"data": {"image": {"base64": "@@not base64"}}}]}', 11100),
    (b"\xff\xfe not utf-8", StatusCode.CONN_BAD_REQUEST_FORMAT),
    (b"[" * 100_000, StatusCode.CONN_BAD_REQUEST_FORMAT),  # nesting past the parser's depth
]


@pytest.mark.parametrize("body,code", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_malformed_json_is_answered_with_its_code(api: Server, body: bytes, code: int) -> None:
    status, answer = _post(api.served.http_port, "/v2/inputs", body, api.secret)
    assert (status, answer["status"]["code"]) == (400, code)
    assert answer["status"]["details"]
    assert list(api.served.runtime.catalog.iter_inputs("me", "main")) == []


def test_a_caller_without_a_valid_key_never_gets_its_body_parsed(api: Server) -> None:
    port = api.served.http_port
    for secret in ("", "not-a-key"):
        status, answer = _post(port, "/v2/inputs", b"[" * 100_000, secret)
        assert (status, answer["status"]["code"]) == (401, StatusCode.CONN_KEY_NOT_FOUND)


def test_bad_ids_and_keys_are_refused_per_input_or_call(api: Server) -> None:
    port = api.served.http_port
    inputs = [{"id": i, "data": {"text": {"raw": "x"}}} for i in ("a/b", "..", "c\u0007", "fine")]
    status, answer = _post(port, "/v2/inputs", json.dumps({"inputs": inputs}).encode(), api.secret)
    assert answer["status"]["code"] == StatusCode.MIXED_STATUS
    codes = [i["status"]["code"] for i in answer["inputs"]]
    assert codes == [StatusCode.INPUT_INVALID_ARGUMENT] * 3 + [StatusCode.INPUT_SUCCESS]
    other = api.key([Scope.ALL], app="other")
    status, answer = _post(port, "/v2/users/me/apps/main/inputs", b'{"inputs": []}', other)
    assert (status, answer["status"]["code"]) == (403, StatusCode.CONN_KEY_INVALID)
    status, answer = _post(port, "/v2/users/me/apps/a%2Fb/inputs", b"{}", api.secret)
    assert answer["status"]["code"] == StatusCode.CONN_KEY_INVALID


def test_malformed_protobuf_gets_11100_over_grpc(api: Server) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{api.served.grpc_port}")
    call = channel.unary_unary("/clarifai.api.V2/PostInputs")
    raw = call(b"\x0a\xff\xff\xff\xff\x0f", metadata=_meta(api.secret), timeout=30)
    answer = svc.MultiInputResponse.FromString(raw)
    assert answer.status.code == StatusCode.CONN_BAD_REQUEST_FORMAT
    assert (
        _stub(api)
        .ListInputs(svc.ListInputsRequest(user_app_id=APP), metadata=_meta(api.secret))
        .status.code
        == StatusCode.SUCCESS
    )


def test_a_calls_deadline_bounds_its_waits() -> None:
    from ingestd.api import deadline

    deadline.set_remaining(1.0)
    assert deadline.wait_until(30.0) - time.monotonic() < 1.0
    deadline.set_remaining(None)
    assert deadline.wait_until(30.0) - time.monotonic() > 29.0
