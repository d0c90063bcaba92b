"""Shared fixtures: real PostgreSQL, a real S3 server over HTTP, and storage combinations.

The suite runs the same storage-facing tests on SQLite and PostgreSQL and on the local
and S3 blob stores. `INGESTD_TEST_PG_URL` points at an existing PostgreSQL server instead
of starting a throwaway cluster.
"""

from __future__ import annotations

import io
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

from pg_cluster import PostgresCluster  # noqa: E402
from s3_server import MotoS3Server  # noqa: E402

from connectors.settings import Settings  # noqa: E402
from ingestd.runtime import Runtime  # noqa: E402


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresCluster | str]:
    url = os.environ.get("INGESTD_TEST_PG_URL")
    if url:
        yield url
        return
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[MotoS3Server]:
    server = MotoS3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def fresh_pg_url(pg: PostgresCluster | str) -> str:
    if isinstance(pg, str):
        return pg
    return pg.create_database(f"t_{uuid.uuid4().hex[:12]}")


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
    else:
        server: MotoS3Server = request.getfixturevalue("s3")
        blobs_url = f"s3://b-{uuid.uuid4().hex[:12]}/ingestd"
        env = {
            "s3_endpoint_url": server.endpoint_url,
            "s3_access_key_id": "testing",
            "s3_secret_access_key": "testing",
            "s3_region": "us-east-1",
        }
    return Settings(catalog=catalog_url, blobs=blobs_url, **env, **extra)  # type: ignore[arg-type]


STORAGE = ["sqlite-local", "sqlite-s3", "postgres-local", "postgres-s3"]


@pytest.fixture(params=STORAGE)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one catalog × blob-store combination (all four are run)."""
    catalog, blobs = request.param.split("-")
    if catalog == "postgres":
        request.applymarker(pytest.mark.postgres)
    return make_settings(tmp_path, catalog, blobs, request, fetch_allow=["127.0.0.1"])


@pytest.fixture
def runtime(storage: Settings) -> Iterator[Runtime]:
    rt = Runtime.open(storage)
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Runtime]:
    """The embedded default on a temp directory: SQLite and local blobs."""
    rt = Runtime.open(
        Settings(
            catalog=f"sqlite:///{tmp_path}/catalog.db",
            blobs=f"file://{tmp_path}/blobs",
            fetch_allow=["127.0.0.1"],
        )
    )
    try:
        yield rt
    finally:
        rt.close()


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    buf = io.BytesIO()
    mode = "RGB" if fmt != "GIF" else "P"
    Image.new(mode, size, color).save(buf, fmt)
    return buf.getvalue()


class ExternalBroker:
    """KAFKA_BOOTSTRAP given: use that broker; it cannot be killed or restarted by tests."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real single-node KRaft broker on loopback (jars from Maven Central, cached)."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
    if bootstrap:
        yield ExternalBroker(bootstrap)
        return
    from kafka_broker import KafkaBroker, free_port

    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
