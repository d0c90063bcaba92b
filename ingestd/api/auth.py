"""`Authorization: Key <secret>`: which key of `ingestd keys` a request presents, and whether
it may act on the app it names with the scope the method needs.

Secrets are stored as salted scrypt hashes plus a fast lookup index (pipeline.keys), so a
presented secret costs one indexed select and, when it names a key, one scrypt: an unknown
secret costs no scrypt at all. Keys made before the index existed are found by trying them
one after another, one such search at a time (so unknown secrets cannot take more than one
core), and are indexed once found. A verified (or refused) secret is remembered by its
SHA-256, in memory only and for a short time; the secret itself is neither kept nor logged.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from pipeline.errors import InputError
from pipeline.keys import ApiKey, Scope, has_scope, secret_index, verify_secret
from pipeline.status import StatusCode

_CACHE_SIZE = 1024
_CACHE_TTL_S = 60.0  # a deleted key stops working within this long


@dataclass(frozen=True)
class Caller:
    """Who a request acts for: the key's user and app."""

    key_id: str
    user_id: str
    app_id: str
    scopes: tuple[str, ...]


def secret_from(header: str | None) -> str:
    """The secret of an `Authorization: Key <secret>` value; InputError (11009) otherwise."""
    if not header:
        raise InputError(
            StatusCode.CONN_KEY_NOT_FOUND,
            "no API key: send the header 'Authorization: Key <secret>' "
            "(make one with `ingestd keys create --scopes All`)",
        )
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "key" or not secret.strip():
        raise InputError(
            StatusCode.CONN_KEY_NOT_FOUND,
            "the authorization header must be 'Key <secret>' (an `ingestd keys create` secret)",
        )
    return secret.strip()


class Keys(Protocol):
    """What KeyAuth needs of the catalog's keys (connectors.catalog.keys.KeyCatalog)."""

    def by_secret_index(self, index: str) -> ApiKey | None: ...
    def unindexed(self) -> list[ApiKey]: ...
    def set_secret_index(self, key_id: str, index: str) -> None: ...


class KeyAuth:
    """Finds the key of a presented secret."""

    def __init__(self, keys: Keys) -> None:
        self._keys = keys
        self._slow = threading.Lock()  # one search among unindexed keys at a time
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[float, Caller | None]] = OrderedDict()

    def caller(self, header: str | None) -> Caller:
        """The caller of a request; InputError 11009 when the key is not one of ours."""
        secret = secret_from(header)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and now - hit[0] < _CACHE_TTL_S:
                found = hit[1]
            else:
                hit = None
        if hit is None:
            found = self._lookup(secret)
            with self._lock:
                self._cache[digest] = (now, found)
                self._cache.move_to_end(digest)
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        if found is None:
            raise InputError(
                StatusCode.CONN_KEY_NOT_FOUND,
                "API key not found: it was deleted or never made here (`ingestd keys list`)",
            )
        return found

    def _lookup(self, secret: str) -> Caller | None:
        index = secret_index(secret)
        key = self._keys.by_secret_index(index)
        if key is not None:
            return _caller(key) if verify_secret(key, secret) else None
        older = self._keys.unindexed()
        if not older:
            return None
        with self._slow:
            for key in older:
                if verify_secret(key, secret):
                    self._keys.set_secret_index(key.id, index)
                    return _caller(key)
        return None


def _caller(key: ApiKey) -> Caller:
    return Caller(key.id, key.user_id, key.app_id, tuple(key.scopes))


def authorize(caller: Caller, user_id: str, app_id: str, scope: Scope | None) -> tuple[str, str]:
    """The user and app a request acts on (the key's when it names none): 11008 for another
    app, 11007 when the key lacks `scope`."""
    user_id, app_id = user_id or caller.user_id, app_id or caller.app_id
    if (user_id, app_id) != (caller.user_id, caller.app_id):
        raise InputError(
            StatusCode.CONN_KEY_INVALID,
            f"this key belongs to app {caller.user_id}/{caller.app_id}, not {user_id}/{app_id}",
        )
    if scope is not None and not has_scope(list(caller.scopes), scope):
        raise InputError(
            StatusCode.CONN_INSUFFICIENT_SCOPES,
            f"this key lacks the {scope.value} scope (it has {', '.join(caller.scopes)}); "
            f"make one with `ingestd keys create --scopes {scope.value}`",
        )
    return user_id, app_id
