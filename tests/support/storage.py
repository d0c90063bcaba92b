"""Settings for one catalog × blob-store combination, and small images, for any test."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from PIL import Image

from ingestd.app.settings import Settings
from tests.support.pg_cluster import PostgresCluster
from tests.support.s3_server import S3Server


def fresh_pg_url(pg: PostgresCluster | str) -> str:
    if isinstance(pg, str):
        return pg
    return pg.create_database(f"t_{uuid.uuid4().hex[:12]}")


def local_settings(tmp_path: Path, **extra: object) -> Settings:
    """The embedded default under tmp_path: a SQLite catalog and local blobs."""
    return Settings(
        catalog=f"sqlite:///{tmp_path}/catalog.db",
        blobs=f"file://{tmp_path}/blobs",
        **extra,  # type: ignore[arg-type]
    )


def make_settings(
    tmp_path: Path, catalog: str, blobs: str, request: pytest.FixtureRequest, **extra: object
) -> Settings:
    if catalog == "sqlite":
        catalog_url = f"sqlite:///{tmp_path}/catalog.db"
    else:
        catalog_url = fresh_pg_url(request.getfixturevalue("pg"))
    env: dict[str, object] = {}
    if blobs == "local":
        blobs_url = f"file://{tmp_path}/blobs"
    else:  # "s3": the `s3` fixture's server (moto unless a test overrides it); "versitygw"
        server: S3Server = request.getfixturevalue(blobs)
        blobs_url = f"s3://b-{uuid.uuid4().hex[:12]}/ingestd"
        env = {
            "s3_endpoint_url": server.endpoint_url,
            "s3_access_key_id": server.access_key_id,
            "s3_secret_access_key": server.secret_access_key,
            "s3_region": "us-east-1",
        }
    return Settings(catalog=catalog_url, blobs=blobs_url, **env, **extra)  # type: ignore[arg-type]


def use_storage(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """CLI commands run after this use the catalog and blob store of `settings`."""
    monkeypatch.setenv("INGESTD_CATALOG", settings.catalog)
    monkeypatch.setenv("INGESTD_BLOBS", settings.blobs)
    if settings.s3_endpoint_url:  # the test S3 server's
        monkeypatch.setenv("INGESTD_S3_ENDPOINT_URL", settings.s3_endpoint_url)
        for name, value in s3_credentials(settings).items():
            monkeypatch.setenv(name, value)


def s3_credentials(settings: Settings) -> dict[str, str]:
    """The INGESTD_S3_* credentials of `settings` (a test server's, generated per run)."""
    key, secret = settings.s3_access_key_id, settings.s3_secret_access_key
    return {
        "INGESTD_S3_ACCESS_KEY_ID": key.get_secret_value() if key else "",
        "INGESTD_S3_SECRET_ACCESS_KEY": secret.get_secret_value() if secret else "",
    }


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    buf = io.BytesIO()
    mode = "RGB" if fmt != "GIF" else "P"
    Image.new(mode, size, color).save(buf, fmt)
    return buf.getvalue()
