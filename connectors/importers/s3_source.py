"""Reading an S3 prefix: the URL, per-job credentials, the paginated listing and object reads.

The URL is a filter prefix, as the reference says: `s3://bucket/images_folder/abc` takes
`images_folder/abcImage.png` and everything under `images_folder/abc-1/`. The listing is
streamed page by page, so a bucket of any size never sits in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from pipeline.errors import InputError, TransientError
from pipeline.status import StatusCode

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")  # fullmatch: "$" passes a final \n
_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "503"}


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def origin(self, key: str, member: str | None = None) -> str:
        """Where an input came from: the object, and the member path inside an archive."""
        base = f"s3://{self.bucket}/{key}"
        return f"{base}#{member}" if member is not None else base


def parse_s3_url(url: str) -> S3Location:
    """`s3://bucket/prefix` (the reference's `s3:/bucket/prefix` spelling is accepted too)."""
    match = re.fullmatch(r"s3:/{1,2}([^/]+)/?(.*)", url.strip())
    if match and "@" in match.group(1):  # key:secret@bucket; never echoed
        raise ValueError(
            "the S3 URL holds credentials (key:secret@ before the bucket): they are not read "
            "from the URL; give them with INGESTD_SOURCE_ACCESS_KEY_ID and "
            "INGESTD_SOURCE_SECRET_ACCESS_KEY"
        )
    if not match:
        raise ValueError(f"{url!r} is not an S3 URL; use s3://bucket/prefix")
    bucket, prefix = match.group(1), match.group(2)
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"{bucket!r} is not a valid S3 bucket name")
    return S3Location(bucket, prefix)


@dataclass
class S3Credentials:
    """Per-job credentials, or None everywhere for boto3's default chain. Secrets never print."""

    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = field(default=None, repr=False)
    session_token: SecretStr | None = field(default=None, repr=False)
    endpoint_url: str | None = None
    # No credentials and no default chain: unsigned requests, for public buckets. What a
    # request from an API client without credentials gets, unless the operator allows the
    # server's own (INGESTD_API_LIMITS__SERVER_CREDENTIALS): never act with them unasked.
    anonymous: bool = False

    @property
    def source(self) -> str:
        """What the job records about its credentials: their origin, never their values."""
        if self.access_key_id:
            return "per-job (not stored)"
        return "anonymous" if self.anonymous else "default chain"

    @property
    def unsigned(self) -> bool:
        return self.anonymous and not self.access_key_id

    def client(self, max_pool: int = 32) -> Any:
        from botocore import UNSIGNED
        from botocore.config import Config

        config = Config(
            max_pool_connections=max_pool,
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
            # MinIO and local servers want path-style addressing; AWS accepts both.
            s3={"addressing_style": "path"} if self.endpoint_url else {},
            **({"signature_version": UNSIGNED} if self.unsigned else {}),
        )
        return self._client("s3", endpoint_url=self.endpoint_url, config=config)

    def sqs_client(self) -> Any:
        return self._client("sqs", endpoint_url=self.endpoint_url)

    def _client(self, service: str, **kwargs: Any) -> Any:
        import boto3

        session = boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=_reveal(self.secret_access_key),
            aws_session_token=_reveal(self.session_token),
            region_name=self.region,
        )
        # Region: given, else boto3's configuration, else S3's default one.
        region = session.region_name or "us-east-1"
        return session.client(service, region_name=region, **kwargs)  # type: ignore[call-overload]


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str
    last_modified: datetime | None = None


class ListingError(InputError):
    """The prefix cannot be listed at all (66000): no such bucket, access denied."""

    def __init__(self, message: str) -> None:
        super().__init__(StatusCode.LIST_OBJECTS_FAILED, message)


def etag_of(value: str | None) -> str:
    return (value or "").strip('"')


def list_pages(
    client: Any,
    where: S3Location,
    *,
    start_after: str | None = None,
    page_size: int = 1000,
) -> Iterator[list[S3Object]]:
    """The objects under the prefix, a page at a time, in key order (directory markers left out)."""
    kwargs: dict[str, Any] = {"Bucket": where.bucket, "Prefix": where.prefix, "MaxKeys": page_size}
    if start_after:
        kwargs["StartAfter"] = start_after
    paginator = client.get_paginator("list_objects_v2")
    pages = iter(paginator.paginate(**kwargs))
    while True:
        with s3_errors("list", where.url):
            page = next(pages, None)
        if page is None:
            return
        yield [
            S3Object(o["Key"], int(o["Size"]), etag_of(o.get("ETag")), o.get("LastModified"))
            for o in page.get("Contents", [])
            if not (o["Key"].endswith("/") and int(o["Size"]) == 0)
        ]


class s3_errors:
    """Client errors of a whole listing become ListingError; outages become TransientError."""

    def __init__(self, op: str, what: str) -> None:
        self.op, self.what = op, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if exc is None:
            return None
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            if code in _TRANSIENT_CODES:
                raise TransientError(f"S3 {code} during {self.op} of {self.what}") from exc
            raise ListingError(
                f"cannot {self.op} {self.what}: {code} {err.get('Message', '')}".strip()
            ) from None
        if isinstance(exc, BotoCoreError):
            # NoCredentialsError and EndpointConnectionError say what is wrong in their text.
            raise ListingError(f"cannot {self.op} {self.what}: {exc}") from None
        return None
