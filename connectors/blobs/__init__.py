"""Blob stores: a local directory (default) or S3/MinIO, chosen by URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from connectors.blobs.local import LocalBlobStore
from connectors.settings import Settings
from pipeline.ports import BlobStore


def open_blob_store(settings: Settings) -> BlobStore:
    """`file://DIR` (relative paths allowed: file://./x) or `s3://bucket/prefix`."""
    url = settings.blobs
    if url.startswith("file://"):
        return LocalBlobStore(url[len("file://") :])
    if url.startswith("s3://"):
        from connectors.blobs.s3 import S3BlobStore

        parts = urlsplit(url)

        def secret(value: object) -> str | None:
            return value.get_secret_value() if value is not None else None  # type: ignore[attr-defined]

        store = S3BlobStore(
            parts.netloc,
            parts.path,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=secret(settings.s3_access_key_id),
            secret_access_key=secret(settings.s3_secret_access_key),
            session_token=secret(settings.s3_session_token),
        )
        store.ensure_bucket()
        return store
    raise ValueError(f"INGESTD_BLOBS must start with file:// or s3://, got {url!r}")


__all__ = ["BlobStore", "LocalBlobStore", "open_blob_store"]
