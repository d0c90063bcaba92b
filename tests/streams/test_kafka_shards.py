"""One app's import over every partition, and races for one input id, on the real broker.

- A single app's bulk import (inputs posted in one call of the producer client) spreads over
  the four partitions; two workers share it while they are killed with SIGKILL; every input
  is stored once (ALL-INPUTS-DELIVERED).
- Pairs of requests for the same new input ids, produced with different keys onto partitions
  of different workers at the same moment, end as the same two requests handled one after
  the other would: one input per id under SKIP, both under SUFFIX, every reported outcome
  true, no orphan blob (ALL-PAIRS-AS-SEQUENTIAL).
"""

from __future__ import annotations

import collections
import hashlib
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import func, select

from connectors.catalog import SqlCatalog
from connectors.catalog import schema as t
from connectors.gc import collect_garbage
from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from pipeline.events import UploadRequest
from pipeline.models import ConflictResolution, Data, Input, Text
from pipeline.records import Action
from tests.streams.test_kafka_delivery import Workload, kafka_settings, report
from tests.support.kafka_harness import (
    WorkerProcess,
    assigned_partitions,
    consumer_lag,
    wait_for,
    wait_progressing,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.postgres]

BULK_INPUTS = 20_000  # one app's import; bench/scale_bench.py measures the same size
PAIRS = 300  # per conflict mode

LATER = datetime.now(UTC) + timedelta(days=2)  # gc as if every blob were old


class BulkImport(Workload):
    """One app, every input posted in one call: the client batches them by shard."""

    def produce(self, settings: Settings, bootstrap: str) -> None:
        with Runtime.open(settings) as rt:
            rt.client.post_inputs(self.input(i) for i in range(self.n))
            rt.client.flush()


def _per_partition(bootstrap: str, topic: str) -> list[int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        return [consumer.end_offsets(parts)[tp] for tp in parts]
    finally:
        consumer.close()


def _start_two(settings: Settings, tmp_path: Path, bootstrap: str) -> list[WorkerProcess]:
    workers = [WorkerProcess(settings, tmp_path / f"w{n}.log").start() for n in range(2)]
    group, uploads = settings.topic_prefix + "ingestd", settings.topic_prefix + "ingestd.uploads"

    def both_assigned() -> bool:
        assert all(w.alive for w in workers), "a worker exited"
        members = assigned_partitions(bootstrap, group, uploads)
        return len(members) == 2 and all(members)

    wait_for(both_assigned, 300, "both workers assigned partitions")
    return workers


def test_one_apps_import_spreads_and_survives_kills(tmp_path, request, kafka) -> None:
    settings = kafka_settings(tmp_path, request, kafka, blobs="local")
    workload = BulkImport(BULK_INPUTS, garbage=0)
    uploads = settings.topic_prefix + "ingestd.uploads"
    workers = _start_two(settings, tmp_path, kafka.bootstrap)
    catalog = SqlCatalog(settings.catalog)
    rng = random.Random(11)
    t0 = time.monotonic()
    try:
        workload.produce(settings, kafka.bootstrap)
        counts = _per_partition(kafka.bootstrap, uploads)
        print(f"produced {workload.n} inputs as {sum(counts)} requests: {counts} per partition")
        for kill, fraction in enumerate((0.2, 0.45, 0.7)):
            target = int(workload.n * (fraction + rng.uniform(0, 0.1)))
            wait_progressing(lambda: workload.settled(catalog), target, 180, f"{target} inputs")
            victim = kill % 2
            workers[victim].kill9()
            print(f"kill -9 worker {victim} at {workload.settled(catalog)} inputs")
            workers[victim] = WorkerProcess(settings, tmp_path / f"w{victim}.log").start()
        wait_progressing(lambda: workload.settled(catalog), workload.n, 180, "every input")
        group = settings.topic_prefix + "ingestd"
        wait_progressing(
            lambda: -consumer_lag(kafka.bootstrap, group, [uploads]), 0, 120, "zero consumer lag"
        )
        print(f"drained at {time.monotonic() - t0:.1f}s")
    finally:
        for w in workers:
            w.stop()
        catalog.close()
    assert all(counts), f"a partition got none of the app's requests: {counts}"
    assert max(counts) / sum(counts) <= 0.30, counts
    report(*workload.verdict(settings))


def _pair(mode: ConflictResolution, i: int, side: str) -> UploadRequest:
    return UploadRequest(
        request_id=f"{mode.value.lower()}-{i}-{side}",
        app_id=mode.value.lower(),
        inputs=[Input(id=f"x{i}", data=Data(text=Text(raw=f"{mode.value} {i} from {side}")))],
        conflict_resolution=mode,
    )


def _sha(mode: ConflictResolution, i: int, side: str) -> str:
    return hashlib.sha256(f"{mode.value} {i} from {side}".encode()).hexdigest()


def test_racing_pairs_end_as_if_handled_one_after_the_other(tmp_path, request, kafka) -> None:
    settings = kafka_settings(tmp_path, request, kafka, blobs="local")
    uploads = settings.topic_prefix + "ingestd.uploads"
    group = settings.topic_prefix + "ingestd"
    workers = _start_two(settings, tmp_path, kafka.bootstrap)
    # Side a on the first worker's partitions, side b on the second's, keyed apart.
    owned = [sorted(p) for p in assigned_partitions(kafka.bootstrap, group, uploads)]
    modes = (ConflictResolution.SKIP, ConflictResolution.SUFFIX)
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", linger_ms=20)
    catalog = SqlCatalog(settings.catalog)
    try:
        for i in range(PAIRS):
            for mode in modes:
                for n, side in enumerate("ab"):
                    event = _pair(mode, i, side)
                    partition = owned[n][i % len(owned[n])]
                    key = f"{side}/{event.request_id}".encode()
                    value = event.model_dump_json().encode()
                    producer.send(uploads, key=key, value=value, partition=partition)
        producer.flush()
        expected = 2 * len(modes) * PAIRS

        def processed() -> int:
            with catalog.begin() as conn:
                return conn.execute(select(func.count()).select_from(t.processed_events)).scalar()

        wait_progressing(processed, expected, 180, "every request processed")
        problems = _pair_problems(catalog, settings, modes)
    finally:
        producer.close()
        for w in workers:
            w.stop()
        catalog.close()
    verdict = "ALL-PAIRS-AS-SEQUENTIAL" if not problems else f"{len(problems)}-PAIRS-WRONG"
    print(verdict)
    for line in problems[:20]:
        print("  ", line)
    assert not problems, problems[:20]


def _pair_problems(
    catalog: SqlCatalog, settings: Settings, modes: tuple[ConflictResolution, ...]
) -> list[str]:
    problems: list[str] = []
    actions: collections.Counter[str] = collections.Counter()
    for mode in modes:
        app = mode.value.lower()
        stored = {r["id"]: r["sha256"] for r in catalog.iter_inputs("me", app)}
        want_rows = PAIRS if mode is ConflictResolution.SKIP else 2 * PAIRS
        if len(stored) != want_rows:
            problems.append(f"{mode.value}: {len(stored)} inputs stored, expected {want_rows}")
        for i in range(PAIRS):
            got = {}
            for side in "ab":
                outcomes = catalog.processed_outcomes("me", app, f"{app}-{i}-{side}") or []
                if len(outcomes) != 1:
                    problems.append(f"{app}-{i}-{side}: {len(outcomes)} outcomes")
                    continue
                o = outcomes[0]
                actions[f"{mode.value} {o.action.value}"] += 1
                got[side] = o.action
                if o.action is Action.CREATED and stored.get(o.input_id) != _sha(mode, i, side):
                    problems.append(f"{app}-{i}-{side}: reported {o.input_id} created, not stored")
            want = (
                [Action.CREATED, Action.SKIPPED]
                if mode is ConflictResolution.SKIP
                else [Action.CREATED, Action.CREATED]
            )
            if sorted(got.values()) != want:
                problems.append(f"{app} pair {i}: {got}")
    print("outcomes:", dict(actions))
    with Runtime.open(settings) as rt:
        with catalog.begin() as conn:
            referenced = set(conn.execute(select(t.inputs.c.blob_key)).scalars())
        lost = referenced - set(rt.blobs.keys("media/"))
        if lost:
            problems.append(f"{len(lost)} inputs without their blob, e.g. {sorted(lost)[:3]}")
        # A loser's blob is left to `ingestd gc` (pipeline/ingest/stage.py says why).
        collect_garbage(rt.catalog, rt.blobs, grace=timedelta(hours=1), now=LATER)
        orphans = set(rt.blobs.keys("media/")) - referenced
    if orphans:
        problems.append(f"{len(orphans)} blobs no input references, e.g. {sorted(orphans)[:3]}")
    return problems
