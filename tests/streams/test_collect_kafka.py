"""The collect stage on Kafka: `ingestd worker` runs it; captures go on to the ingest stage."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from connectors.catalog import SqlCatalog
from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from pipeline.collect.capture import capture_ids
from pipeline.topics import TOPICS
from tests.support.collectors import APP, USER, make_collector, make_key, prediction, save_workflow
from tests.support.kafka_harness import WorkerProcess, consumer_lag, wait_for
from tests.support.storage import make_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.postgres]


def test_predictions_on_kafka_are_captured_once(tmp_path: Path, request, kafka) -> None:
    base = make_settings(tmp_path, "postgres", "local", request)
    settings: Settings = base.model_copy(
        update={
            "broker": f"kafka://{kafka.bootstrap}",
            "topic_prefix": f"t{uuid.uuid4().hex[:8]}-",
            "partitions": 2,
        }
    )
    # The worker only consumes topics that exist when it joins the group (faust ignores
    # missing ones until a metadata refresh, minutes later): create them all first.
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        admin.create_topics(
            [
                NewTopic(settings.topic_prefix + t, settings.partitions, 1)
                for t in (t.name for t in TOPICS)
            ]
        )
    finally:
        admin.close()
    with Runtime.open(settings) as rt:
        key = make_key(rt)
        save_workflow(
            rt,
            {
                "id": "cats",
                "nodes": [
                    {"id": "s", "operator": "random-sample", "params": {"keep_fraction": 1}},
                    {
                        "id": "t",
                        "operator": "concept-thresholder",
                        "inputs": ["s"],
                        "params": {"concepts": {"cat": 0.5}},
                    },
                ],
            },
        )
        make_collector(rt, "kc", key, pre_queue_workflow_id="cats", dataset_id="from-kafka")
        events = [prediction(f"k{i}", concepts={"cat": 0.9 if i % 2 else 0.1}) for i in range(20)]
        for event in events + events[:6]:  # the first six twice: at-least-once producers
            rt.publish(event)
        rt.flush()
    wanted = {
        capture_ids(e.event_id, f"{USER}/{APP}/kc")[1] for e in events if int(e.event_id[1:]) % 2
    }
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    catalog = SqlCatalog(settings.catalog)
    try:
        wait_for(
            lambda: len(catalog.list_inputs(USER, APP, limit=100)) >= len(wanted),
            180,
            "captured inputs",
        )
        topics = [settings.topic_prefix + t for t in ("ingestd.predictions", "ingestd.uploads")]
        group = settings.topic_prefix + "ingestd"
        wait_for(lambda: consumer_lag(kafka.bootstrap, group, topics) == 0, 120, "zero lag")
        rows = catalog.list_inputs(USER, APP, limit=100)
        assert {r["id"] for r in rows} == wanted
        assert all(r["status_code"] == 30000 and r["source"] == "collector" for r in rows)
        assert len(catalog.list_inputs(USER, APP, dataset_id="from-kafka", limit=100)) == len(
            wanted
        )
        assert catalog.list_dead_letters() == []
    finally:
        worker.stop()
        catalog.close()
