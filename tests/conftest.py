"""Shared fixtures: real PostgreSQL, two real S3 servers over HTTP, storage combinations.

The suite runs the same storage-facing tests on SQLite and PostgreSQL and on the local
and S3 blob stores; S3 is moto's server (`s3`, the default) and versitygw, a production
S3 gateway on a POSIX directory (`versitygw`). `INGESTD_TEST_PG_URL` points at an existing
PostgreSQL server instead of starting a throwaway cluster.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from tests.support.pg_cluster import PostgresCluster
from tests.support.s3_server import MotoS3Server, S3Server
from tests.support.storage import local_settings, make_settings
from tests.support.versitygw import VersityGateway


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresCluster | str]:
    url = os.environ.get("INGESTD_TEST_PG_URL")
    if url:
        yield url
        return
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoS3Server]:
    with MotoS3Server() as server:
        yield server


@pytest.fixture(scope="session")
def s3(moto: MotoS3Server) -> MotoS3Server:
    """The default S3 server: moto's. A module may override `s3` with `each_s3`."""
    return moto


@pytest.fixture(scope="session")
def versitygw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VersityGateway]:
    """versitygw on loopback, its buckets in a temp directory (binary built once, cached)."""
    with VersityGateway(tmp_path_factory.mktemp("versitygw")) as server:
        yield server


S3_SERVERS = ["moto", "versitygw"]


@pytest.fixture(params=S3_SERVERS)
def each_s3(request: pytest.FixtureRequest) -> S3Server:
    """Each S3 server in turn, for tests of S3 behaviour (drop zones, outages)."""
    server: S3Server = request.getfixturevalue(request.param)
    return server


# versitygw with one catalog only: what differs between S3 servers does not meet the catalog.
STORAGE = ["sqlite-local", "sqlite-s3", "sqlite-versitygw", "postgres-local", "postgres-s3"]


@pytest.fixture(params=STORAGE)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one catalog × blob-store combination (blob store: local, moto's S3 server
    or versitygw)."""
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
    rt = Runtime.open(local_settings(tmp_path, fetch_allow=["127.0.0.1"]))
    try:
        yield rt
    finally:
        rt.close()


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
    from tests.support.kafka_broker import KafkaBroker, free_port

    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
