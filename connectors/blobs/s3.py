"""Blob store on S3 or MinIO (boto3); large objects go up as multipart uploads."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, EndpointConnectionError

from pipeline.errors import TransientError

MULTIPART_THRESHOLD = 16 * 1024 * 1024

# Errors worth retrying: the endpoint is down, throttling, or the server had a bad moment.
_RETRYABLE_CODES = {
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
}


class S3BlobStore:
    """Objects under s3://bucket/prefix/. Credentials come from settings or boto3's chain."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        max_pool: int = 32,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            region_name=region or "us-east-1",
        )
        self.client: Any = session.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                max_pool_connections=max_pool,
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
            ),
        )
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD
        )

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _key(self, key: str) -> str:
        return self.prefix + key

    def put(self, key: str, data: bytes) -> None:
        with _transient("put", key):
            if len(data) >= MULTIPART_THRESHOLD:
                self.client.upload_fileobj(
                    io.BytesIO(data), self.bucket, self._key(key), Config=self.transfer
                )
            else:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def put_file(self, key: str, path: Path) -> None:
        with _transient("put", key):
            self.client.upload_file(str(path), self.bucket, self._key(key), Config=self.transfer)

    def get(self, key: str) -> bytes:
        with _transient("get", key):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return bytes(body.read())

    def download(self, key: str, path: Path) -> None:
        with _transient("get", key):
            self.client.download_file(self.bucket, self._key(key), str(path), Config=self.transfer)

    def size(self, key: str) -> int | None:
        head = self._head(key)
        return None if head is None else int(head["ContentLength"])

    def modified(self, key: str) -> datetime | None:
        head = self._head(key)
        return None if head is None else head["LastModified"]

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            with _transient("head", key):
                head: dict[str, Any] = self.client.head_object(
                    Bucket=self.bucket, Key=self._key(key)
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def delete(self, key: str) -> None:
        with _transient("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        with _transient("list", prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                for obj in page.get("Contents", []):
                    yield obj["Key"][len(self.prefix) :]

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except ClientError as e:
                # Created by another worker since our HEAD (workers start together): ours, and
                # there. Real S3 servers say so with this code; someone else's bucket
                # (BucketAlreadyExists) is still an error.
                if e.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise


class _transient:
    """Turn connection failures and server-side 5xx into TransientError; let 4xx through."""

    def __init__(self, op: str, key: str) -> None:
        self.op, self.key = op, key

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            return None
        if isinstance(exc, (EndpointConnectionError, ConnectionError)):
            raise TransientError(f"S3 unreachable during {self.op} {self.key!r}: {exc}") from exc
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _RETRYABLE_CODES:
                raise TransientError(f"S3 {code} during {self.op} {self.key!r}") from exc
            return None
        if isinstance(exc, BotoCoreError):
            raise TransientError(f"S3 error during {self.op} {self.key!r}: {exc}") from exc
        return None
