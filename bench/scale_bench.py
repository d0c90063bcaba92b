"""One app's import through Kafka: how it spreads over partitions, and what a second worker adds.

    .venv/bin/python bench/scale_bench.py [--inputs 20000] [--partitions 4]

A single app's import of small text inputs, posted in one call of the producer client (which
sends one shard of input ids per request), onto a topic with 4 partitions. Prints the share
of upload events on the busiest partition (goal <= 30 %; keyed by app it was 100 %), then the
import run by one `ingestd worker` and by two (PostgreSQL catalog, local blobs, a real broker
started here from the cached jars, or KAFKA_BOOTSTRAP): events and inputs per worker
CPU-second (goal: two workers within 15 % of one, i.e. a worker adds its capacity), wall
time, and each worker's peak resident memory.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kafka import KafkaConsumer, TopicPartition  # noqa: E402
from report import options  # noqa: E402

from connectors.catalog import SqlCatalog  # noqa: E402
from connectors.producer import IngestClient  # noqa: E402
from ingestd.app.settings import Settings  # noqa: E402
from pipeline.models import Data, Input, Text  # noqa: E402
from tests.support.kafka_broker import KafkaBroker, free_port  # noqa: E402
from tests.support.kafka_harness import (  # noqa: E402
    WorkerProcess,
    assigned_partitions,
    wait_for,
    wait_progressing,
)
from tests.support.pg_cluster import PostgresCluster  # noqa: E402

APP = "bulk"
TICK = os.sysconf("SC_CLK_TCK")


def inputs(n: int):
    for i in range(n):
        yield Input(id=f"photos/item-{i:06d}", data=Data(text=Text(raw=f"small input {i}")))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def per_partition(bootstrap: str, topic: str) -> list[int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        return [consumer.end_offsets(parts)[tp] for tp in parts]
    finally:
        consumer.close()


def run(work: Path, bootstrap: str, pg: PostgresCluster, n: int, parts: int, workers: int):
    tag = uuid.uuid4().hex[:6]
    settings = Settings(
        broker=f"kafka://{bootstrap}",
        topic_prefix=f"s{tag}-",
        partitions=parts,
        catalog=pg.create_database(f"scale_{tag}"),
        blobs=f"file://{work}/blobs-{tag}",
    )
    SqlCatalog(settings.catalog).close()  # the schema, before the workers race for it
    procs = [WorkerProcess(settings, work / f"w{tag}-{k}.log").start() for k in range(workers)]
    group, uploads = settings.topic_prefix + "ingestd", settings.topic_prefix + "ingestd.uploads"

    def all_assigned() -> bool:
        members = assigned_partitions(bootstrap, group, uploads)
        return len(members) == workers and all(members)

    catalog = SqlCatalog(settings.catalog)
    try:
        wait_for(all_assigned, 600, f"{workers} worker(s) assigned partitions")
        time.sleep(2)  # let start-up work settle before the CPU baseline
        cpu0 = [cpu_seconds(p.proc.pid) for p in procs]  # type: ignore[union-attr]
        client = IngestClient(bootstrap, topic_prefix=settings.topic_prefix, app_id=APP)
        started = time.perf_counter()
        client.post_inputs(inputs(n))
        client.flush()
        client.close()

        def settled() -> int:
            counts = catalog.input_counts("me", APP)
            return counts["processed"] + counts["errors"]

        wait_progressing(settled, n, 300, "every input stored")
        wall = time.perf_counter() - started
        cpu = [cpu_seconds(p.proc.pid) - c for p, c in zip(procs, cpu0, strict=True)]  # type: ignore[union-attr]
        rss = [peak_rss_mb(p.proc.pid) for p in procs]  # type: ignore[union-attr]
        events = per_partition(bootstrap, uploads)
    finally:
        for p in procs:
            p.stop()
        catalog.close()
    return events, cpu, wall, rss


def main() -> None:
    args = options(__doc__, inputs=20000, partitions=4)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
        broker = None
        if not bootstrap:
            broker = KafkaBroker(work / "kafka", free_port())
            broker.start()
            bootstrap = broker.bootstrap
        pg = PostgresCluster()
        pg.start()
        try:
            results = {w: run(work, bootstrap, pg, args.inputs, args.partitions, w) for w in (1, 2)}
        finally:
            pg.stop()
            if broker:
                broker.stop()
    events = results[1][0]
    total = sum(events)
    print(f"{args.inputs} inputs of one app as {total} upload events over {len(events)} "
          f"partitions: {events}")
    print(f"busiest partition: {max(events) / total:.1%} of the events (goal <= 30 %)")
    rates = {}
    for w, (ev, cpu, wall, rss) in results.items():
        rates[w] = sum(ev) / sum(cpu)
        print(
            f"{w} worker(s): {rates[w]:7.1f} events, {args.inputs / sum(cpu):8.1f} inputs per "
            f"worker CPU-second (CPU {', '.join(f'{c:.1f}' for c in cpu)} s); "
            f"{args.inputs / wall:7.1f} inputs/s wall; peak RSS "
            f"{', '.join(f'{r:.0f}' for r in rss)} MB"
        )
    print(f"two workers / one, per CPU-second: {rates[2] / rates[1]:.2f} (goal >= 0.85)")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (producer side): {own:.0f} MB")


if __name__ == "__main__":
    main()
