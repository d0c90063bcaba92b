"""Identifiers: validated user ids, deterministic derived ids and content-addressed keys.

Nothing here depends on time or randomness (except the last-resort SUFFIX), so a replay
of the same event derives the same ids and keys and overwrites instead of duplicating.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

from pipeline.errors import InputError
from pipeline.status import StatusCode

# fullmatch, never match + "$": "$" also matches before a final newline ("pets\n").
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-:@]{0,127}")
_NAMESPACE = uuid.UUID("6f1c2c52-6a54-4b8e-9a57-6b1f4f5c2e10").bytes


def check_id(value: str, what: str = "input id") -> str:
    """Refuse ids that could escape a path or break a terminal: letters, digits, _.-:@ only."""
    if not _ID.fullmatch(value) or value in {".", ".."}:
        shown = value.encode("unicode_escape").decode()[:80]
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT,
            f"{what} {shown!r} is not allowed: use 1-128 letters, digits or _ . - : @, "
            "starting with a letter, digit or _ (no path separators or control characters)",
        )
    return value


def check_tenant(user_id: str, app_id: str) -> None:
    """User and app ids name blob paths and catalog rows: the same rules as any id."""
    check_id(user_id, "user id")
    check_id(app_id, "app id")


def derived_id(*parts: str) -> str:
    """A stable 32-hex id from its parts (same parts, same id, on every machine).

    The hex of uuid5(namespace, parts joined by \\x1f), computed without building a UUID
    object: an import derives one per annotation, and uuid.uuid5 costs several times more.
    """
    digest = bytearray(
        hashlib.sha1(_NAMESPACE + "\x1f".join(parts).encode(), usedforsecurity=False).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest.hex()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_run_id() -> str:
    """The id of one import run (`run-` and 12 hex): random, as every run is new."""
    return f"run-{uuid.uuid4().hex[:12]}"


def fingerprint(value: Any) -> str:
    """sha256 of a canonical JSON form: equal content, equal fingerprint."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return sha256_hex(text.encode())


def blob_key(user_id: str, app_id: str, digest: str, extension: str = "") -> str:
    """Content-addressed key of a medium, scoped by tenant: never derived from time."""
    suffix = f".{extension}" if extension else ""
    return f"{media_prefix(user_id, app_id)}{digest[:2]}/{digest}{suffix}"


def media_prefix(user_id: str, app_id: str) -> str:
    """Where an app's media blobs live."""
    return f"media/{user_id}/{app_id}/"


def claim_prefixes(user_id: str, app_id: str) -> tuple[str, str]:
    """The blob keys an upload of this app may name: its own media, and claim checks a
    service put in the store itself under `uploads/<user>/<app>/`."""
    return media_prefix(user_id, app_id), f"uploads/{user_id}/{app_id}/"


def suffixed_ids(base: str) -> Iterator[str]:
    """SUFFIX conflict resolution: base-1 .. base-9, then random suffixes."""
    for n in range(1, 10):
        yield f"{base}-{n}"
    while True:
        yield f"{base}-{secrets.token_hex(4)}"


def slug(text: str, max_len: int = 80) -> str:
    """A readable id fragment from free text (file paths, folder names)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]+", "-", text).strip("-.")
    return cleaned[:max_len].strip("-.") or "x"
