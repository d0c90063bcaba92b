"""`ingestd worker` as an operator sees it: its log, its metrics, its dead letters, its stop."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from connectors.catalog import SqlCatalog
from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from pipeline.events import UploadRequest
from pipeline.models import Data, Input, Media, Text
from pipeline.status import StatusCode
from tests.support.kafka_broker import free_port
from tests.support.kafka_harness import WorkerProcess, wait_for
from tests.support.storage import image_bytes, make_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.postgres]


def kafka_settings(tmp_path: Path, request, kafka, blobs: str) -> Settings:
    return make_settings(tmp_path, "postgres", blobs, request).model_copy(
        update={
            "broker": f"kafka://{kafka.bootstrap}",
            "topic_prefix": f"t{uuid.uuid4().hex[:8]}-",
            "partitions": 2,
        }
    )


def log_entries(path: Path) -> list[dict]:
    """Every line of a worker's log, each of which must be one JSON object."""
    entries = []
    for line in path.read_text().splitlines():
        if line.strip():
            entries.append(json.loads(line))  # a line of plain text fails here
    return entries


def metric(port: int, name: str, labels: dict[str, str]) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    want = "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name + "{"):
            series, value = line.rsplit(" ", 1)
            got = "{" + ",".join(sorted(series[len(name) + 1 : -1].split(","))) + "}"
            if got == want:
                total += float(value)
    return total


def test_the_worker_logs_metrics_and_dead_letters_say_what_happened(
    tmp_path, request, kafka
) -> None:
    """...and writes nothing into its current directory (Faust's default data directory)."""
    settings = kafka_settings(tmp_path, request, kafka, "local")
    uploads = settings.topic_prefix + "ingestd.uploads"
    bad = Input(id="bad", data=Data(image=Media(base64=b"\xff\xd8\xff not a jpeg")))
    good = Input(id="good", data=Data(text=Text(raw="fine")))
    with Runtime.open(settings) as rt:
        rt.publish(UploadRequest(request_id="r-1", inputs=[good, bad]))
        rt.flush()
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    producer.send(uploads, value=b"{not json").get(60)
    producer.close()
    port = free_port()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    worker = WorkerProcess(settings, tmp_path / "worker.log", port, cwd=cwd).start()
    catalog = SqlCatalog(settings.catalog)
    try:
        wait_for(lambda: len(catalog.list_dead_letters()) == 1, 180, "the dead letter")
        wait_for(lambda: catalog.get_input("me", "main", "bad") is not None, 120, "the inputs")
        [letter] = catalog.list_dead_letters()
        # Metrics are updated once the event's outcome is durable: wait for the last of them.
        wait_for(
            lambda: (
                metric(port, "ingestd_events_out_total", {"stage": "ingest", "outcome": "ok"}) >= 1
            ),
            60,
            "the request counted",
        )
        failed_input = metric(
            port,
            "ingestd_errors_total",
            {"stage": "ingest", "code": str(int(StatusCode.INPUT_UNSUPPORTED_FORMAT))},
        )
        dead = metric(
            port,
            "ingestd_errors_total",
            {"stage": "ingest", "code": str(int(StatusCode.CONN_BAD_REQUEST_FORMAT))},
        )
    finally:
        worker.stop()
        catalog.close()
    assert sorted(p.name for p in cwd.iterdir()) == []
    assert letter.origin_topic == uploads  # the real topic, prefix included
    assert letter.origin_partition is not None and letter.origin_offset is not None
    assert (failed_input, dead) == (1, 1)
    entries = log_entries(tmp_path / "worker.log")
    dead_lines = [e["message"] for e in entries if "dead letter" in e["message"]]
    assert dead_lines and all(letter.dead_letter_id in m for m in dead_lines), dead_lines


def test_a_stopped_worker_leaves_an_event_it_is_retrying_for_the_next(
    tmp_path, request, kafka, s3
) -> None:
    settings = kafka_settings(tmp_path, request, kafka, "s3")
    log = tmp_path / "worker.log"
    worker = WorkerProcess(settings, log).start()
    catalog = SqlCatalog(settings.catalog)
    s3_down = False

    def retrying() -> bool:
        assert worker.alive, log.read_text()[-3000:]
        return "transient failure" in log.read_text()

    try:
        with Runtime.open(settings) as rt:
            # A first image stored: the worker has joined the group and reaches S3.
            rt.publish(image_request("r-0", "img-0", 1))
            rt.flush()
            wait_for(lambda: stored(catalog, "img-0"), 180, "the first image stored")
            s3.stop()
            s3_down = True
            rt.publish(image_request("r-1", "img-1", 2))
            rt.flush()
        wait_for(retrying, 180, "the worker retrying the outage")
        assert worker.proc is not None
        worker.proc.terminate()
        worker.proc.wait(120)  # generous: a worker stuck until the outage ends never exits
        # The stop ended the retry wait; the stage was not left running into a dying process.
        stopped_log = log.read_text()
        assert "dead letter" not in stopped_log and "unexpected error" not in stopped_log
        s3.start()
        s3_down = False
        worker = WorkerProcess(settings, tmp_path / "worker2.log").start()
        wait_for(lambda: stored(catalog, "img-1"), 180, "the image stored after the outage")
        row = catalog.get_input("me", "main", "img-1")
        assert row is not None and row["status_code"] == StatusCode.INPUT_SUCCESS
        assert catalog.list_dead_letters() == []
    finally:
        if s3_down:
            s3.start()
        worker.stop()
        catalog.close()


def image_request(request_id: str, input_id: str, shade: int) -> UploadRequest:
    data = Data(image=Media(base64=image_bytes("PNG", (8, 8), (shade, 0, 0))))  # type: ignore[arg-type]
    return UploadRequest(request_id=request_id, inputs=[Input(id=input_id, data=data)])


def stored(catalog: SqlCatalog, input_id: str) -> bool:
    return catalog.get_input("me", "main", input_id) is not None
