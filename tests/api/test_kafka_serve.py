"""`ingestd serve` in front of a Kafka worker (a real broker, an `ingestd worker` process):
the SDK's upload_from_folder stores exactly what it stores on the embedded default."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from clarifai.client.dataset import Dataset

from ingestd.api.server import Served, start
from ingestd.app.settings import Settings
from pipeline.keys import Scope, new_key
from pipeline.status import StatusCode
from tests.api.test_sdk import _labelled_folder
from tests.support.kafka_harness import WorkerProcess, wait_for
from tests.support.storage import local_settings, make_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.postgres]


def _upload(settings: Settings, images: Path, expected: int) -> list[tuple[Any, ...]]:
    """The SDK's upload of every folder under `images` through serve; what the catalog holds."""
    served: Served = start(settings)
    try:
        key, secret = new_key("me", "main", [Scope.ALL])
        served.runtime.catalog.keys.add(key)
        dataset = Dataset(
            user_id="me", app_id="main", dataset_id="pets",
            base_url=f"http://127.0.0.1:{served.grpc_port}", pat=secret,
        )  # fmt: skip
        for folder in sorted(images.iterdir()):
            dataset.upload_from_folder(folder_path=str(folder), input_type="image", labels=True)
        catalog = served.runtime.catalog
        wait_for(
            lambda: sum(r["status_code"] == StatusCode.INPUT_SUCCESS
                        for r in catalog.iter_inputs("me", "main")) == expected,
            240, "every input stored",
        )  # fmt: skip
        in_pets = {
            r["id"] for r in catalog.list_inputs("me", "main", dataset_id="pets", limit=1000)
        }
        return sorted(
            (r["id"], r["status_code"], tuple(c["id"] for c in r["concepts"]), r["sha256"],
             r["id"] in in_pets)
            for r in catalog.iter_inputs("me", "main")
        )  # fmt: skip
    finally:
        served.stop()


def test_serve_in_front_of_kafka_stores_what_embedded_stores(
    tmp_path: Path, request: pytest.FixtureRequest, kafka: Any
) -> None:
    images = tmp_path / "images"
    _labelled_folder(images, "cat", 12, 10)
    _labelled_folder(images, "dog", 9, 200)
    embedded = _upload(local_settings(tmp_path / "embedded", grpc_port=0, http_port=0), images, 21)
    assert len(embedded) == 21

    (tmp_path / "kafka").mkdir()
    settings = make_settings(tmp_path / "kafka", "postgres", "local", request).model_copy(
        update={
            "broker": f"kafka://{kafka.bootstrap}",
            "topic_prefix": f"t{uuid.uuid4().hex[:8]}-",
            "partitions": 2,
            "grpc_port": 0,
            "http_port": 0,
            "api_wait_s": 240.0,  # PostInputs waits for the worker (its start is slow)
        }
    )
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        through_kafka = _upload(settings, images, 21)
    finally:
        worker.stop()
    assert through_kafka == embedded  # same ids, statuses, concepts, content, membership
