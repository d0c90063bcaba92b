"""The URLs serve gives out for what it stores: an export archive, and each input's medium as
the platform's `hosted` image/text/video/audio (`{prefix}/orig/{suffix}`, which the SDK's
`Dataset.export` downloads with the app's key).

A medium's URL names the app and the blob key below the app's own namespaces
(`media/<user>/<app>/`, `chunks/<user>/<app>/`): the key is rebuilt from the app of the path,
which the caller's key must belong to, so no URL can reach another app's blobs.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from ingestd.app.settings import Settings

_NAMESPACES = ("media", "chunks")
# What follows an app's namespace in a blob key (pipeline.ids.blob_key, the media stage's
# chunk keys): plain segments, no "." or ".." and nothing to unquote.
_TAIL = re.compile(r"^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
MEDIA_PATH = re.compile(
    r"^/v2/users/(?P<user_id>[^/]+)/apps/(?P<app_id>[^/]+)/media/orig/"
    r"(?P<namespace>[a-z]+)/(?P<tail>.+)$"
)
EXPORT_PATH = re.compile(
    r"^/v2/users/(?P<user_id>[^/]+)/apps/(?P<app_id>[^/]+)/datasets/(?P<dataset_id>[^/]+)"
    r"/versions/(?P<version_id>[^/]+)/exports/(?P<format>[A-Z_]+)$"
)


def public_url(settings: Settings, http_port: int) -> str:
    """Where clients reach serve's HTTP port: INGESTD_API_PUBLIC_URL, else the bound address
    (127.0.0.1 when serve binds every address)."""
    if settings.api_public_url:
        return settings.api_public_url.rstrip("/")
    host = settings.api_host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - not a bind: where clients connect
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{http_port}"


def app_path(base_url: str, user_id: str, app_id: str) -> str:
    return f"{base_url}/v2/users/{quote(user_id, safe='')}/apps/{quote(app_id, safe='')}"


def export_url(
    base_url: str, user_id: str, app_id: str, dataset_id: str, version_id: str, fmt: str
) -> str:
    return (
        f"{app_path(base_url, user_id, app_id)}/datasets/{quote(dataset_id, safe='')}"
        f"/versions/{quote(version_id, safe='')}/exports/{fmt}"
    )


def hosted(base_url: str, user_id: str, app_id: str, blob_key: str) -> tuple[str, str] | None:
    """The `hosted` prefix and suffix of one of the app's blobs; None for any other key."""
    for namespace in _NAMESPACES:
        own = f"{namespace}/{user_id}/{app_id}/"
        tail = blob_key[len(own) :]
        if blob_key.startswith(own) and _TAIL.match(tail):
            return f"{app_path(base_url, user_id, app_id)}/media", f"{namespace}/{tail}"
    return None


def blob_key(user_id: str, app_id: str, namespace: str, tail: str) -> str | None:
    """The blob key a medium's URL names, within that app's namespaces; None if it names
    none (a traversal, a quoted separator, an unknown namespace)."""
    if namespace not in _NAMESPACES or not _TAIL.match(tail):
        return None
    return f"{namespace}/{user_id}/{app_id}/{tail}"
