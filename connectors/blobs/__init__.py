"""Blob stores: a local directory (default) or S3, chosen by URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

from connectors.blobs.local import LocalBlobStore
from pipeline.ports import BlobStore


class S3Settings(BaseModel):
    """How to reach an S3 server: endpoint, region, credentials (boto3's chain when unset)."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None


def open_blob_store(url: str, s3: S3Settings | None = None) -> BlobStore:
    """`file://DIR` (relative paths allowed: file://./x) or `s3://bucket/prefix`."""
    if url.startswith("file://"):
        return LocalBlobStore(url[len("file://") :])
    if url.startswith("s3://"):
        from connectors.blobs.s3 import S3BlobStore

        s3 = s3 or S3Settings()
        parts = urlsplit(url)
        if "@" in parts.netloc:  # key:secret@bucket; never echoed
            raise ValueError(
                "INGESTD_BLOBS holds credentials (key:secret@ before the bucket): they are not "
                "read from the URL; give them with INGESTD_S3_ACCESS_KEY_ID and "
                "INGESTD_S3_SECRET_ACCESS_KEY"
            )

        def secret(value: SecretStr | None) -> str | None:
            return value.get_secret_value() if value is not None else None

        store = S3BlobStore(
            parts.netloc,
            parts.path,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            access_key_id=secret(s3.access_key_id),
            secret_access_key=secret(s3.secret_access_key),
            session_token=secret(s3.session_token),
        )
        store.ensure_bucket()
        return store
    raise ValueError(f"INGESTD_BLOBS must start with file:// or s3://, got {url!r}")


__all__ = ["BlobStore", "LocalBlobStore", "S3Settings", "open_blob_store"]
