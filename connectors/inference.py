"""Calls to post-queue model endpoints: POST JSON, read JSON, under the fetch guard's rules.

Like URL fetching, the connected address is checked on the socket (cloud metadata always
refused; private and loopback addresses only when listed in INGESTD_MODEL_ALLOW), proxies
from the environment are ignored, redirects are not followed, and a watchdog ends a call
that outlasts its timeout however slowly the server drips. Timeouts, refused connections,
429 and 5xx are transient (retried); other answers the model cannot give are terminal.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error

from connectors.fetch import (
    GuardedFetcher,
    guarded_pool_classes,
    redact,
    refusal_reason,
    shut_down_sockets,
)
from pipeline.errors import InputError, TransientError
from pipeline.status import StatusCode

FAILED = StatusCode.MODEL_PREDICTION_FAILED
MAX_ANSWER = 16 * 1024 * 1024


class HttpInference:
    """`post_json(url, body, timeout=, headers=)` for the model operator."""

    def __init__(self, allow: Sequence[str] = (), max_answer: int = MAX_ANSWER) -> None:
        self.guard = GuardedFetcher(allow=allow)
        self.max_answer = max_answer

    def post_json(
        self, url: str, body: dict[str, Any], *, timeout: float, headers: dict[str, str]
    ) -> Any:
        where = redact(url)
        try:
            self.guard._check_url(url)
        except InputError as exc:
            raise InputError(exc.code, _allow_hint(exc.message)) from None
        socks: list[socket.socket] = []
        watchdog = threading.Timer(timeout, shut_down_sockets, (socks,))
        adapter = HTTPAdapter(max_retries=0)
        adapter.poolmanager.pool_classes_by_scheme = guarded_pool_classes(
            self.guard.check_address, socks
        )
        start = time.monotonic()
        with requests.Session() as session:
            session.trust_env = False
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            watchdog.start()
            try:
                with session.post(
                    url,
                    json=body,
                    headers={"User-Agent": "ingestd-collect/0.1", **headers},
                    timeout=timeout,
                    stream=True,
                    allow_redirects=False,
                ) as resp:
                    _check_status(resp, where)
                    raw = _read(resp, self.max_answer, where)
            except InputError as exc:
                raise InputError(exc.code, _allow_hint(exc.message)) from None
            except (requests.RequestException, Urllib3Error, OSError) as exc:
                if time.monotonic() - start >= timeout or isinstance(exc, requests.Timeout):
                    raise TransientError(
                        f"model endpoint {where} did not answer within {timeout:g} s"
                    ) from exc
                raise TransientError(
                    f"cannot reach model endpoint {where}: {refusal_reason(exc)}"
                ) from exc
            finally:
                watchdog.cancel()
                for sock in socks:
                    sock.close()
        if time.monotonic() - start >= timeout:
            raise TransientError(f"model endpoint {where} did not answer within {timeout:g} s")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            shown = raw[:60].decode("utf-8", "replace")
            raise InputError(
                FAILED, f"model endpoint {where} answered non-JSON: {shown!r}"
            ) from None


def _check_status(resp: requests.Response, where: str) -> None:
    code = resp.status_code
    if 200 <= code < 300:
        return
    if code in (408, 429) or code >= 500:
        wait = resp.headers.get("Retry-After", "").strip()
        hint = min(float(wait), 60.0) if wait.isdigit() else 1.0
        raise TransientError(f"model endpoint {where} answered HTTP {code}", retry_after=hint)
    if 300 <= code < 400:
        raise InputError(
            FAILED, f"model endpoint {where} redirects (HTTP {code}); give its final URL"
        )
    detail = resp.raw.read(200, decode_content=True).decode("utf-8", "replace").strip()
    raise InputError(FAILED, f"model endpoint {where} answered HTTP {code}: {detail[:200]}")


def _read(resp: requests.Response, limit: int, where: str) -> bytes:
    body = bytearray()
    for chunk in resp.iter_content(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise InputError(FAILED, f"model endpoint {where} answered more than {limit} bytes")
    return bytes(body)


def _allow_hint(message: str) -> str:
    return message.replace("INGESTD_FETCH_ALLOW", "INGESTD_MODEL_ALLOW")
