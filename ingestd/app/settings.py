"""One settings object for the whole process (pydantic-settings, `INGESTD_` prefix).

Defaults are the embedded mode: in-process bus, `./.ingestd/blobs`, `./.ingestd/catalog.db`.
Secrets are SecretStr: printed and logged only as '**********'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.blobs import S3Settings
from connectors.importers.dropzone_config import DropZoneSettings
from pipeline.errors import InputError
from pipeline.ids import check_id
from pipeline.limits import Limits


class ApiLimits(BaseModel):
    """How much one `ingestd serve` lets clients hold (INGESTD_API_LIMITS__...). Request
    bodies are bounded by Limits.batch_bytes (as base64 JSON over HTTP)."""

    max_connections: int = Field(
        256, description="HTTP connections open at once; beyond, 503 busy (40030) at once."
    )
    header_timeout_s: float = Field(
        10.0, description="A request line and headers (or an idle keep-alive) within this."
    )
    body_timeout_s: float = Field(60.0, description="A whole request body within this.")
    buffered_mb: int = Field(
        512, description="Request bodies held in memory at once; others wait their turn."
    )
    grpc_streams: int = Field(64, description="Concurrent gRPC streams per connection.")
    server_credentials: bool = Field(
        False,
        description="Cloud imports posted without credentials use the server's own AWS "
        "credentials (boto3's default chain); off: they read public buckets, unsigned.",
    )


class StreamSettings(BaseModel):
    """How a stage worker batches events (INGESTD_STREAM__...), on both transports."""

    batch_events: int = Field(
        64, ge=1, description="Events a worker takes at once: one catalog transaction for them."
    )
    batch_ms: float = Field(
        50.0, ge=0, description="How long a worker waits for more events before it starts a batch."
    )


class Settings(BaseSettings):
    # Frozen: read once at start; a changed run is a new object (model_copy), never a mutation.
    model_config = SettingsConfigDict(
        env_prefix="INGESTD_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    broker: str = Field("memory://", description="memory:// (embedded) or kafka://host:port,...")
    blobs: str = Field("file://./.ingestd/blobs", description="file://DIR or s3://bucket/prefix")
    catalog: str = Field(
        "sqlite:///./.ingestd/catalog.db",
        description="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://...",
    )
    user_id: str = "me"
    app_id: str = "main"

    s3_endpoint_url: str | None = Field(None, description="For MinIO or a local S3 server.")
    s3_region: str | None = None
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_session_token: SecretStr | None = None
    # `ingestd import s3`: the source bucket's server and credentials, not the blob store's.
    source_endpoint_url: str | None = Field(None, description="S3 endpoint of import s3's bucket.")
    source_region: str | None = None
    source_access_key_id: SecretStr | None = None
    source_secret_access_key: SecretStr | None = None
    source_session_token: SecretStr | None = None
    catalog_password: SecretStr | None = Field(
        None, description="Password put into the catalog URL when connecting (not in the URL)."
    )

    fetch_allow: list[str] = Field(
        default_factory=list,
        description="Hosts or CIDRs URL fetching may reach although private (tests, intranets).",
    )
    model_allow: list[str] = Field(
        default_factory=list,
        description="Private hosts or CIDRs post-queue model endpoints may be on (model servers).",
    )
    collect_refresh_s: float = Field(
        2.0, description="Seconds between reloads of collectors and workflows by the collect stage."
    )
    limits: Limits = Field(default_factory=Limits)
    workers: int = Field(2, description="Stage worker threads per topic on the embedded bus.")
    queue_size: int = Field(
        8, description="Bound of each embedded topic queue (backpressure; a batch is < 128 MB)."
    )
    blob_concurrency: int = Field(8, description="Parallel blob writes inside one batch.")
    max_attempts: int = Field(8, description="Tries of a transient failure before a dead letter.")
    partitions: int = Field(4, description="Partitions of each ingestd topic (Kafka mode).")
    kafka_replication: int = Field(1, description="Replication factor of topics a worker creates.")
    kafka_session_timeout: float = Field(
        10.0, description="Seconds before a silent worker's partitions move to another worker."
    )
    topic_prefix: str = Field(
        "", description="Prefix of the Kafka topic and group names (several deployments, tests)."
    )
    metrics_port: int = Field(0, description="Worker's Prometheus endpoint port (0: off).")
    metrics_host: str = Field("127.0.0.1", description="Address the metrics endpoint binds.")
    grpc_port: int = Field(18080, description="`ingestd serve`: gRPC port (0: a free one).")
    http_port: int = Field(8080, description="`ingestd serve`: HTTP port (0: a free one).")
    api_host: str = Field("127.0.0.1", description="`ingestd serve`: address both ports bind.")
    api_workers: int = Field(16, description="`ingestd serve`: calls served at once.")
    api_public_url: str | None = Field(
        None,
        description="`ingestd serve`: the HTTP address clients reach it at, for the URLs in "
        "exports (default http://<api_host>:<http_port>).",
    )
    api_wait_s: float = Field(
        10.0, description="How long PostInputs waits for its inputs' final status."
    )
    api_limits: ApiLimits = Field(default_factory=ApiLimits)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    dropzone: DropZoneSettings = Field(
        default_factory=DropZoneSettings, description="S3 drop zones and extraction jobs."
    )
    secrets_dir: str | None = Field(
        None,
        description="Directory of one file per secret setting, e.g. ingestd_s3_secret_access_key "
        "(Docker/Kubernetes secrets); read by Settings.load.",
    )

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """The process's settings: INGESTD_* variables, then the files of INGESTD_SECRETS_DIR
        (when it is a directory), then `overrides` (command-line flags) on top."""
        first = cls(**overrides)
        where = first.secrets_dir
        if where and Path(where).is_dir():
            return cls(_secrets_dir=where, **overrides)
        return first

    @field_validator("user_id", "app_id")
    @classmethod
    def _tenant_id(cls, value: str, info: Any) -> str:
        try:
            return check_id(value, info.field_name.replace("_", " "))
        except InputError as exc:
            raise ValueError(exc.message) from None

    def catalog_url(self) -> str:
        """The catalog URL with `catalog_password` filled in (never print this)."""
        if self.catalog_password is None:
            return self.catalog
        from sqlalchemy.engine import make_url

        url = make_url(self.catalog).set(password=self.catalog_password.get_secret_value())
        return url.render_as_string(hide_password=False)

    def s3(self) -> S3Settings:
        """The blob store's S3 settings (INGESTD_S3_*)."""
        return S3Settings(
            endpoint_url=self.s3_endpoint_url,
            region=self.s3_region,
            access_key_id=self.s3_access_key_id,
            secret_access_key=self.s3_secret_access_key,
            session_token=self.s3_session_token,
        )

    def source_s3(self, **flags: str | None) -> S3Settings:
        """Where `ingestd import s3` reads (INGESTD_SOURCE_*), `flags` given on top.

        An empty value counts as unset, so `INGESTD_SOURCE_ACCESS_KEY_ID=` falls back to
        boto3's chain."""
        values: dict[str, str | SecretStr | None] = {
            "endpoint_url": self.source_endpoint_url,
            "region": self.source_region,
            "access_key_id": self.source_access_key_id,
            "secret_access_key": self.source_secret_access_key,
            "session_token": self.source_session_token,
        }
        values.update({k: v for k, v in flags.items() if v is not None})
        return S3Settings(**{k: _unset_if_empty(v) for k, v in values.items()})

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict safe to print: secrets masked, URL passwords hidden."""
        data = self.model_dump(mode="json")
        for name, value in data.items():
            if isinstance(getattr(self, name), SecretStr) and value:
                data[name] = "**********"
        for name, value in data.items():  # every URL: catalog, blobs, endpoints, broker
            if isinstance(value, str) and "://" in value:
                data[name] = _hide_password(value)
        return data


def _unset_if_empty(value: str | SecretStr | None) -> str | SecretStr | None:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return value if text else None


def _hide_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
