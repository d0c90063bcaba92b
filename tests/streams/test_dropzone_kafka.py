"""An extraction job on Kafka: the drop zone produces upload requests, a worker process ingests."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import pytest

from connectors.importers.dropzone_items import input_id_for
from ingestd.app.runtime import Runtime
from pipeline.status import StatusCode
from tests.support.dropzone import job_inputs, new_bucket, put_many, run_job
from tests.support.kafka_harness import WorkerProcess
from tests.support.storage import image_bytes, make_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.postgres]


def test_extraction_job_through_kafka_workers(tmp_path: Path, request, kafka, s3) -> None:
    settings = make_settings(tmp_path, "postgres", "s3", request).model_copy(
        update={
            "broker": f"kafka://{kafka.bootstrap}",
            "topic_prefix": f"t{uuid.uuid4().hex[:8]}-",
            "partitions": 2,
        }
    )
    client, bucket = new_bucket(s3)
    objects = {f"k/{n:03d}.jpg": image_bytes(color=("red", "blue")[n % 2]) for n in range(150)}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("m/one.png", image_bytes("PNG"))
        zf.writestr("m/two.txt", "member text")
    objects["k/pack.zip"] = archive.getvalue()
    put_many(client, bucket, objects)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        with Runtime.open(settings) as rt:
            assert rt.kafka_mode
            out = run_job(rt, s3, f"s3://{bucket}/k/", tmp_path)
            again = run_job(rt, s3, f"s3://{bucket}/k/", tmp_path)
            stored = job_inputs(rt)
    finally:
        worker.stop()
    assert out.job["status_code"] == StatusCode.JOB_COMPLETED, out.job["status_message"]
    assert out.actions == {"created": 152}
    assert out.job["image_inputs_count"] == 151 and out.job["text_inputs_count"] == 1
    assert out.job["completed_archives_count"] == 1
    assert input_id_for(bucket, "k/pack.zip", "m/two.txt") in stored and len(stored) == 152
    assert again.requests == 0 and again.job["unchanged_objects_count"] == 151
