"""Crash and fault tests against the real broker: nothing lost, nothing duplicated.

Each test runs `ingestd worker` subprocesses on PostgreSQL and S3 (moto's server), produces
upload requests with the producer client, breaks something, and then checks every input
against the catalog and the blob store. Each prints a verdict line in the style of Kafka's
system tests: ALL-INPUTS-DELIVERED, or how many were lost or duplicated.
"""

from __future__ import annotations

import hashlib
import random
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from connectors.catalog import SqlCatalog
from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from pipeline.models import Data, Input, Media, Text
from pipeline.status import StatusCode
from tests.support.kafka_harness import (
    WorkerProcess,
    assigned_partitions,
    consumer_lag,
    wait_for,
    wait_progressing,
)
from tests.support.storage import image_bytes, make_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.postgres]


def kafka_settings(
    tmp_path: Path, request: pytest.FixtureRequest, kafka, blobs: str = "s3"
) -> Settings:
    base = make_settings(tmp_path, "postgres", blobs, request)
    return base.model_copy(
        update={
            "broker": f"kafka://{kafka.bootstrap}",
            "topic_prefix": f"t{uuid.uuid4().hex[:8]}-",
            "partitions": 4,
        }
    )


class Workload:
    """n single-input upload requests (some with bad inputs) plus some unreadable events."""

    def __init__(self, n: int, bad_every: int = 50, garbage: int = 5, apps: int = 1) -> None:
        self.n = n
        # Several apps: the verdict checks per app (one app's uploads spread over every
        # partition too: tests/streams/test_kafka_shards.py).
        self.apps = ["main"] if apps == 1 else [f"app{a}" for a in range(apps)]
        self.bad = {i for i in range(n) if i % bad_every == 7}
        self.garbage = garbage

    def input(self, i: int) -> Input:
        if i in self.bad:
            return Input(id=f"in-{i}", data=Data(image=Media(base64=b"\xff\xd8\xff not a jpeg")))
        if i % 3 == 0:
            color = (i % 251, (i // 251) % 251, 7)
            return Input(
                id=f"in-{i}", data=Data(image=Media(base64=image_bytes("PNG", (8, 8), color)))
            )  # type: ignore[arg-type]
        return Input(id=f"in-{i}", data=Data(text=Text(raw=f"payload number {i}")))

    def produce(self, settings: Settings, bootstrap: str) -> None:
        with Runtime.open(settings) as rt:
            client = rt.client
            for i in range(self.n):
                self.post(client, i)
            raw = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
            for g in range(self.garbage):
                raw.send(settings.topic_prefix + "ingestd.uploads", value=b"{not json %d" % g)
            raw.flush()
            raw.close()
            client.flush()

    def post(self, client, i: int) -> None:
        client.app_id = self.apps[i % len(self.apps)]
        client.post_inputs([self.input(i)])

    def settled(self, catalog: SqlCatalog) -> int:
        total = 0
        for app in self.apps:
            counts = catalog.input_counts("me", app)
            total += counts["processed"] + counts["errors"]
        return total

    def verdict(self, settings: Settings) -> tuple[str, list[str]]:
        """Check every input, blob and dead letter; returns the verdict and the problems."""
        problems: list[str] = []
        with Runtime.open(settings) as rt:
            rows = {r["id"]: r for app in self.apps for r in rt.catalog.iter_inputs("me", app)}
            expected = {f"in-{i}" for i in range(self.n)}
            lost = expected - set(rows)
            extra = set(rows) - expected
            for i in range(self.n):
                row = rows.get(f"in-{i}")
                if row is None:
                    continue
                want = (
                    StatusCode.INPUT_UNSUPPORTED_FORMAT
                    if i in self.bad
                    else StatusCode.INPUT_SUCCESS
                )
                if row["status_code"] != want:
                    problems.append(f"in-{i}: status {row['status_code']}, expected {int(want)}")
                elif want == StatusCode.INPUT_SUCCESS:
                    data = rt.blobs.get(row["blob_key"])
                    if hashlib.sha256(data).hexdigest() != row["sha256"]:
                        problems.append(f"in-{i}: blob does not match its sha256")
            keys = list(rt.blobs.keys("media/"))
            distinct = len({rows[k]["blob_key"] for k in rows if rows[k]["blob_key"]})
            if len(keys) != distinct:
                problems.append(f"{len(keys)} media blobs for {distinct} distinct contents")
            letters = rt.catalog.list_dead_letters()
            offsets = {(d.origin_partition, d.origin_offset) for d in letters}
            if len(letters) != self.garbage or len(offsets) != self.garbage:
                problems.append(f"{len(letters)} dead letters for {self.garbage} unreadable events")
            if any(d.code != StatusCode.CONN_BAD_REQUEST_FORMAT for d in letters):
                problems.append("a dead letter for another reason than the unreadable events")
        if lost or extra:
            verdict = f"LOST {len(lost)} DUPLICATED-OR-EXTRA {len(extra)}"
        elif problems:
            verdict = f"DELIVERED-WITH-{len(problems)}-PROBLEMS"
        else:
            verdict = "ALL-INPUTS-DELIVERED"
        return verdict, problems


def wait_until_drained(settings: Settings, kafka, workload: Workload, timeout: float) -> None:
    group = settings.topic_prefix + "ingestd"
    topics = [settings.topic_prefix + "ingestd.uploads"]
    catalog = SqlCatalog(settings.catalog)
    try:
        wait_for(lambda: workload.settled(catalog) >= workload.n, timeout, "every input stored")
        wait_for(lambda: consumer_lag(kafka.bootstrap, group, topics) == 0, 60, "zero consumer lag")
    finally:
        catalog.close()


def report(verdict: str, problems: list[str]) -> None:
    print(verdict)
    for line in problems[:20]:
        print("  ", line)
    assert verdict == "ALL-INPUTS-DELIVERED", problems[:20]


def test_worker_killed_three_times_loses_and_duplicates_nothing(tmp_path, request, kafka) -> None:
    settings = kafka_settings(tmp_path, request, kafka)
    workload = Workload(3000)
    t0 = time.monotonic()
    workload.produce(settings, kafka.bootstrap)
    print(f"produced {workload.n} requests in {time.monotonic() - t0:.1f}s")
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    catalog = SqlCatalog(settings.catalog)
    rng = random.Random(7)
    kills = 0
    try:
        for fraction in (0.15, 0.4, 0.65):
            target = int(workload.n * (fraction + rng.uniform(0, 0.1)))
            wait_for(lambda t=target: workload.settled(catalog) >= t, 240, f"{target} inputs")
            worker.kill9()
            kills += 1
            stored, elapsed = workload.settled(catalog), time.monotonic() - t0
            print(f"kill -9 #{kills} at {stored} inputs, {elapsed:.1f}s")
            worker = WorkerProcess(settings, tmp_path / "worker.log").start()
        wait_until_drained(settings, kafka, workload, 300)
        print(f"drained at {time.monotonic() - t0:.1f}s")
    finally:
        worker.stop()
        catalog.close()
    assert kills == 3
    report(*workload.verdict(settings))


def run_with_fault(tmp_path, request, kafka, fault) -> None:
    """600 requests; once 100 are stored, `fault(settings)` breaks something and mends it."""
    settings = kafka_settings(tmp_path, request, kafka)
    workload = Workload(600)
    workload.produce(settings, kafka.bootstrap)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    catalog = SqlCatalog(settings.catalog)
    try:
        wait_for(lambda: workload.settled(catalog) >= 100, 120, "100 inputs")
        fault(settings)
        wait_until_drained(settings, kafka, workload, 300)
    finally:
        worker.stop()
        catalog.close()
    report(*workload.verdict(settings))


def test_s3_outage_mid_run_loses_nothing_and_dead_letters_nothing(
    tmp_path, request, kafka, s3
) -> None:
    def outage(_settings: Settings) -> None:
        s3.stop()
        time.sleep(6)  # the worker is retrying against a dead endpoint, partitions waiting
        s3.start()

    run_with_fault(tmp_path, request, kafka, outage)


def test_broker_killed_and_restarted_mid_run_loses_nothing(tmp_path, request, kafka) -> None:
    if not hasattr(kafka, "kill"):
        pytest.skip("KAFKA_BOOTSTRAP points at a broker these tests cannot restart")

    def crash(_settings: Settings) -> None:
        kafka.kill()
        time.sleep(2)
        kafka.start()

    run_with_fault(tmp_path, request, kafka, crash)


def test_two_workers_share_the_partitions(tmp_path, request, kafka) -> None:
    from tests.support.kafka_broker import free_port

    settings = kafka_settings(tmp_path, request, kafka)
    # Single-input requests keyed by a shard of their input id: every partition gets work.
    workload = Workload(800, garbage=0, apps=8)
    uploads = settings.topic_prefix + "ingestd.uploads"
    group = settings.topic_prefix + "ingestd"
    ports = [free_port(), free_port()]
    workers = [
        WorkerProcess(settings, tmp_path / f"w{n}.log", port).start()
        for n, port in enumerate(ports)
    ]
    catalog = SqlCatalog(settings.catalog)
    try:
        # What the sharing depends on: both workers in the group and each assigned partitions.
        # Joining and rebalancing take longer on a busy machine; the bound is generous.
        def both_assigned() -> bool:
            assert all(w.alive for w in workers), "a worker exited"
            members = assigned_partitions(kafka.bootstrap, group, uploads)
            return len(members) == 2 and all(members)

        wait_for(both_assigned, 300, "both workers assigned partitions")
        with Runtime.open(settings) as rt:
            for i in range(workload.n):
                workload.post(rt.client, i)
            rt.client.flush()
        # However slow the machine, the inputs keep coming: fail only when they stop.
        wait_progressing(lambda: workload.settled(catalog), workload.n, 180, "every input stored")
        wait_progressing(
            lambda: -consumer_lag(kafka.bootstrap, group, [uploads]), 0, 120, "zero consumer lag"
        )
        counts = [_events_in(port) for port in ports]
    finally:
        for w in workers:
            w.stop()
        catalog.close()
    print("events per worker:", counts)
    assert all(c > 0 for c in counts), f"one worker did nothing: {counts}"
    assert sum(counts) >= workload.n
    report(*workload.verdict(settings))


def _events_in(port: int) -> float:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return 0.0  # not up yet
    total = 0.0
    for line in body.splitlines():
        if line.startswith('ingestd_events_in_total{stage="ingest"}'):
            total += float(line.rsplit(" ", 1)[1])
    return total
