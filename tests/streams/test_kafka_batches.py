"""Batches per transaction on the real broker: a poison event in the middle of a batch is one
dead letter and the others are stored; a catalog outage during a run commits nothing of a
batch, which is redelivered whole and stored once. (A worker SIGKILLed mid-batch:
tests/streams/test_kafka_delivery.py and test_kafka_shards.py.)"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaProducer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from connectors.catalog import SqlCatalog
from ingestd.app.settings import Settings
from pipeline.events import UploadRequest
from pipeline.models import Data, Input, Text
from pipeline.status import StatusCode
from streams.kafka_app import ensure_topics
from tests.streams.test_kafka_delivery import kafka_settings, run_with_fault
from tests.support.kafka_harness import WorkerProcess, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.postgres]


def _request(rid: str, *ids: str) -> bytes:
    inputs = [Input(id=i, data=Data(text=Text(raw=f"text of {i}"))) for i in ids]
    return UploadRequest(request_id=rid, inputs=inputs).model_dump_json().encode()


def test_a_poison_event_in_the_middle_of_a_batch_is_one_dead_letter(
    tmp_path, request, kafka
) -> None:
    settings = kafka_settings(tmp_path, request, kafka, blobs="local")
    SqlCatalog(settings.catalog).close()
    topic = settings.topic_prefix + "ingestd.uploads"
    ensure_topics(settings.broker, [topic], settings.partitions)
    # All on one partition, all waiting before the worker starts: it takes them as a batch.
    values = [_request(f"r{n}", f"in-{n}") for n in range(20)]
    values += [b"{not json", _request("too-big", *(f"big-{n}" for n in range(129)))]
    values += [_request(f"r{n}", f"in-{n}") for n in range(20, 40)]
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    for value in values:
        producer.send(topic, value=value, key=b"one", partition=0)
    producer.flush()
    producer.close()
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    catalog = SqlCatalog(settings.catalog)
    try:
        wait_for(lambda: len(catalog.list_dead_letters()) >= 2, 120, "two dead letters")
        wait_for(lambda: catalog.input_counts("me", "main")["processed"] >= 40, 120, "40 inputs")
        rows = list(catalog.iter_inputs("me", "main"))
        letters = catalog.list_dead_letters()
    finally:
        worker.stop()
        catalog.close()
    assert sorted(r["id"] for r in rows) == sorted(f"in-{n}" for n in range(40))
    assert sorted((d.code, d.origin_offset) for d in letters) == [
        (StatusCode.CONN_BAD_REQUEST_FORMAT, 20),
        (StatusCode.INPUT_INVALID_REQUEST, 21),
    ]
    # One transaction for many requests: rows committed together share their time.
    assert len({r["created_at"] for r in rows}) < len(rows)


def test_a_catalog_outage_mid_run_loses_and_duplicates_nothing(tmp_path, request, kafka) -> None:
    def outage(settings: Settings) -> None:
        # The worker's database refuses connections and drops those it had, for 6 s.
        url = make_url(settings.catalog)
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        name = url.database
        try:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                time.sleep(6)  # the worker retries its batch against a refusing database
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        finally:
            admin.dispose()

    run_with_fault(tmp_path, request, kafka, outage)
