"""API keys of an app: scopes, and secrets that are stored only as salted scrypt hashes.

A secret is shown once, when the key is made (`new_key`); afterwards only its hash exists,
so a leaked catalog does not leak keys. `verify_secret` checks a presented secret.

Finding the key of a presented secret must not cost one scrypt per stored key (an unknown
secret would then cost them all), so each key also stores `secret_index`, an HMAC-SHA256 of
the secret under a fixed domain key: one indexed lookup, then one scrypt for the key found.
A fast hash is safe here because secrets are 256 random bits (nothing to guess), and it
reveals nothing of the secret; scrypt stays the check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum

from pipeline.errors import InputError
from pipeline.status import StatusCode

# scrypt cost: ~16 MB and a few tens of ms per hash; keys are checked rarely (not per event).
_N, _R, _P = 2**14, 8, 1
_PREFIX = "ik_"
_INDEX_KEY = b"ingestd api key lookup index v1"


class Scope(StrEnum):
    """What a key may do (the platform's scope names)."""

    POST_INPUTS = "PostInputs"
    GET_INPUTS = "GetInputs"
    PATCH_INPUTS = "PatchInputs"
    DELETE_INPUTS = "DeleteInputs"
    POST_ANNOTATIONS = "PostAnnotations"
    GET_ANNOTATIONS = "GetAnnotations"
    PATCH_ANNOTATIONS = "PatchAnnotations"
    DELETE_ANNOTATIONS = "DeleteAnnotations"
    GET_MODELS = "GetModels"
    POST_MODEL_OUTPUTS = "PostModelOutputs"
    POST_WORKFLOWS = "PostWorkflows"
    GET_WORKFLOWS = "GetWorkflows"
    POST_COLLECTORS = "PostCollectors"
    GET_COLLECTORS = "GetCollectors"
    POST_DATASETS = "PostDatasets"
    GET_DATASETS = "GetDatasets"
    PATCH_DATASETS = "PatchDatasets"
    DELETE_DATASETS = "DeleteDatasets"
    ALL = "All"


def parse_scopes(names: list[str]) -> list[Scope]:
    """Scopes from their names (case-insensitive, comma-separated allowed), in a stable order."""
    by_lower = {s.value.lower(): s for s in Scope}
    chosen: set[Scope] = set()
    for part in (p.strip() for name in names for p in name.split(",")):
        if not part:
            continue
        scope = by_lower.get(part.lower())
        if scope is None:
            raise InputError(
                StatusCode.CONN_INVALID_REQUEST,
                f"unknown scope {part!r}; choose from {', '.join(s.value for s in Scope)}",
            )
        chosen.add(scope)
    if not chosen:
        raise InputError(StatusCode.CONN_INVALID_REQUEST, "give at least one scope")
    return [s for s in Scope if s in chosen]


def has_scope(scopes: list[str], wanted: Scope) -> bool:
    return wanted.value in scopes or Scope.ALL.value in scopes


@dataclass
class ApiKey:
    """A key as stored: no secret, only its hash and salt."""

    id: str
    user_id: str
    app_id: str
    scopes: list[str]
    description: str = ""
    secret_hash: str = field(default="", repr=False)
    salt: str = field(default="", repr=False)
    created_at: datetime | None = None
    secret_index: str | None = field(default=None, repr=False)  # None: made before 0014

    def public(self) -> dict[str, object]:
        """What may be shown: everything but the hashes and salt."""
        shown = asdict(self)
        del shown["secret_hash"], shown["salt"], shown["secret_index"]
        return shown


def hash_secret(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32).hex()


def secret_index(secret: str) -> str:
    """The lookup index of a secret (not a check of it: verify_secret is)."""
    return hmac.new(_INDEX_KEY, secret.encode(), hashlib.sha256).hexdigest()


def new_key(
    user_id: str, app_id: str, scopes: list[Scope], description: str = ""
) -> tuple[ApiKey, str]:
    """A fresh key and its secret; the secret is not kept anywhere else."""
    key_id = secrets.token_hex(16)
    secret = _PREFIX + secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    key = ApiKey(
        id=key_id,
        user_id=user_id,
        app_id=app_id,
        scopes=[s.value for s in scopes],
        description=description,
        secret_hash=hash_secret(secret, salt),
        salt=salt.hex(),
        secret_index=secret_index(secret),
    )
    return key, secret


def verify_secret(key: ApiKey, secret: str) -> bool:
    """True when `secret` is this key's secret (constant-time comparison)."""
    if not key.salt or not key.secret_hash:
        return False
    return hmac.compare_digest(hash_secret(secret, bytes.fromhex(key.salt)), key.secret_hash)
