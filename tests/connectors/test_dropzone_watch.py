"""Watch mode: incremental listings, rescans, deletions (on moto's S3 server and on versitygw),
S3 notifications through moto's SQS (versitygw has no SQS: moto only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import text

from connectors.importers.dropzone_items import input_id_for
from connectors.importers.s3_notifications import Notice, fold, parse_message
from connectors.importers.s3_source import S3Location
from ingestd.app.runtime import Runtime
from pipeline.status import StatusCode
from tests.support.dropzone import job_inputs, new_bucket, put_many, runner_for, watch_run
from tests.support.s3_server import MotoS3Server, S3Server
from tests.support.storage import image_bytes, local_settings


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(local_settings(tmp_path))
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def s3(each_s3: S3Server) -> S3Server:
    """The listing tests run on each S3 server; the SQS ones ask for `moto`."""
    return each_s3


def deleted_at(rt: Runtime, input_id: str) -> Any:
    with rt.catalog.begin() as conn:
        return conn.execute(
            text("SELECT deleted_at FROM inputs WHERE id = :id"), {"id": input_id}
        ).scalar_one()


def once(action: Any, after_inputs: int) -> Any:
    """An on_progress hook that acts once, when the first pass has stored its inputs."""
    done: list[bool] = []

    def hook(counts: dict[str, int]) -> None:
        stored = counts["image_inputs_count"] + counts["text_inputs_count"]
        if not done and stored >= after_inputs:
            done.append(True)
            action()

    return hook


def test_watch_lists_only_new_keys_then_rescans_for_changes_and_deletions(
    rt: Runtime, s3: S3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {f"w/{c}.jpg": image_bytes() for c in "abcde"})

    def drop_more() -> None:
        put_many(client, bucket, {"w/f.jpg": image_bytes(), "w/g.txt": b"new"})
        client.put_object(Bucket=bucket, Key="w/a.jpg", Body=image_bytes(color="blue"))
        client.delete_object(Bucket=bucket, Key="w/b.jpg")

    runner = runner_for(
        rt,
        s3,
        f"s3://{bucket}/w/",
        tmp_path,
        watch=True,
        rescan_every=2,
        delete_inputs=True,
        on_progress=once(drop_more, 5),
    )
    lists, gets, out = watch_run(runner, cycles=2)
    # pass 0: everything; cycle 1: only keys after the highest seen; cycle 2: a full rescan.
    assert [call.get("StartAfter") for call in lists] == [None, "w/e.jpg", None]
    assert sorted(gets) == ["w/a.jpg", "w/a.jpg", "w/b.jpg", "w/c.jpg", "w/d.jpg"] + [
        "w/e.jpg",
        "w/f.jpg",
        "w/g.txt",
    ]
    assert out.actions == {"created": 7, "updated": 1}
    assert out.deleted == ["w/b.jpg"]
    job = out.job
    assert job["status_code"] == StatusCode.JOB_COMPLETED  # `cycles` ran out
    assert job["deleted_objects_count"] == 1 and job["last_key"] == "w/g.txt"
    assert deleted_at(rt, input_id_for(bucket, "w/b.jpg")) is not None
    assert deleted_at(rt, input_id_for(bucket, "w/a.jpg")) is None

    # The object comes back: its input is live again, under the same id.
    client.put_object(Bucket=bucket, Key="w/b.jpg", Body=image_bytes(color="white"))
    again = runner_for(rt, s3, f"s3://{bucket}/w/", tmp_path)
    out2 = again.run()
    assert out2.actions == {"updated": 1}
    assert deleted_at(rt, input_id_for(bucket, "w/b.jpg")) is None


def test_notifications_from_sqs_are_deduplicated_decoded_and_deletions_marked(
    rt: Runtime, moto: MotoS3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(moto)
    sqs = boto3.client("sqs", **moto.client_kwargs())
    queue = sqs.create_queue(QueueName=bucket)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    client.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
            ]
        },
    )
    put_many(client, bucket, {"in/old.jpg": image_bytes(), "in/keep.txt": b"stays"})
    spaced = "in/new photos/a b+c é.jpg"

    def drop() -> None:
        client.put_object(Bucket=bucket, Key=spaced, Body=image_bytes(color="blue"))
        # A multipart upload is announced twice (Put and CompleteMultipartUpload).
        mp = client.create_multipart_upload(Bucket=bucket, Key="in/big.jpg")
        part = client.upload_part(
            Bucket=bucket,
            Key="in/big.jpg",
            UploadId=mp["UploadId"],
            PartNumber=1,
            Body=image_bytes(color="green"),
        )
        client.complete_multipart_upload(
            Bucket=bucket,
            Key="in/big.jpg",
            UploadId=mp["UploadId"],
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )
        client.delete_object(Bucket=bucket, Key="in/old.jpg")
        client.put_object(Bucket=bucket, Key="elsewhere/x.jpg", Body=image_bytes())

    runner = runner_for(
        rt,
        moto,
        f"s3://{bucket}/in/",
        tmp_path,
        watch=True,
        sqs=queue,
        rescan_every=0,
        delete_inputs=True,
        on_progress=once(drop, 2),
    )
    lists, gets, out = watch_run(runner, cycles=2)
    assert len(lists) == 1  # only the first pass lists; the cycles follow the queue
    assert sorted(gets) == ["in/big.jpg", "in/keep.txt", spaced, "in/old.jpg"]  # once each
    assert out.actions == {"created": 4}
    assert out.deleted == ["in/old.jpg"]
    # The deleted object's input is kept but marked, and no longer listed.
    assert set(job_inputs(rt)) == {
        input_id_for(bucket, k) for k in ("in/keep.txt", spaced, "in/big.jpg")
    }
    assert deleted_at(rt, input_id_for(bucket, "in/old.jpg")) is not None
    left = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    assert left.get("Messages", []) == []  # handled notifications are acknowledged


def test_notification_parsing_handles_encoding_sns_and_strangers() -> None:
    where = S3Location("bkt", "in/")

    def body(name: str, key: str, etag: str = "e1", bucket: str = "bkt", seq: str = "") -> str:
        obj: dict[str, Any] = {"key": key, "eTag": etag}
        if seq:
            obj["sequencer"] = seq
        record = {"eventName": name, "s3": {"bucket": {"name": bucket}, "object": obj}}
        return json.dumps({"Records": [record]})

    assert parse_message(body("ObjectCreated:Put", "in/a+b%2Fc%2Bd.jpg"), where)[0].key == (
        "in/a b/c+d.jpg"
    )
    sns = json.dumps({"Type": "Notification", "Message": body("ObjectRemoved:Delete", "in/x")})
    assert not parse_message(sns, where)[0].created
    assert parse_message(body("ObjectCreated:Put", "out/x"), where) == []
    assert parse_message(body("ObjectCreated:Put", "in/x", bucket="other"), where) == []
    assert parse_message("not json", where) == []
    assert parse_message(json.dumps({"Event": "s3:TestEvent"}), where) == []
    # The later event of a key wins: by sequencer when present, else by arrival.
    put = Notice(True, "in/k", "e1", "0A", 0)
    gone = Notice(False, "in/k", "", "0B", 1)
    assert fold([gone, put]) == [gone]
    assert (
        fold([Notice(True, "in/k", "e1", "", 0), Notice(False, "in/k", "", "", 1)])[0].created
        is False
    )


def test_a_failed_watch_cycle_is_noted_and_the_watch_goes_on(
    rt: Runtime, s3: S3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {"a.jpg": image_bytes()})

    def remove_bucket() -> None:
        client.delete_object(Bucket=bucket, Key="a.jpg")
        client.delete_bucket(Bucket=bucket)

    runner = runner_for(
        rt, s3, f"s3://{bucket}/", tmp_path, watch=True, on_progress=once(remove_bucket, 1)
    )
    polls: list[tuple[int, Any]] = []
    runner.on_poll = lambda counts, at: polls.append((counts["image_inputs_count"], at))
    out = runner.run(watch=True, cycles=2)
    assert out.cycles == 2 and len(out.cycle_errors) == 2
    assert [n for n, _ in polls] == [1, 1]  # a failed poll is reported too
    assert polls[0][1] <= polls[1][1] and polls[0][1].tzinfo is not None
    assert "66000" in out.cycle_errors[0] or "NoSuchBucket" in out.cycle_errors[0]
    assert out.job["status_code"] == StatusCode.JOB_COMPLETED  # not failed: it kept watching


def test_a_queue_that_cannot_be_read_fails_the_job_at_once(
    rt: Runtime, moto: MotoS3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(moto)
    missing = f"{moto.endpoint_url}/123456789012/no-such-queue-{bucket}"
    out = runner_for(rt, moto, f"s3://{bucket}/", tmp_path, watch=True, sqs=missing).run(
        watch=True, cycles=1
    )
    assert out.job["status_code"] == StatusCode.JOB_FAILED
    assert out.job["status_message"].startswith("11101 CONN_DOES_NOT_EXIST: SQS queue")
    assert out.cycles == 0
