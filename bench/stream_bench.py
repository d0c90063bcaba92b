"""Small upload events through Kafka and the ingest stage versus a plain aiokafka loop.

    .venv/bin/python bench/stream_bench.py [--events 3000] [--rate 100] [--latency-events 1000]

Both sides run on the same real broker (started here from the cached jars, or
KAFKA_BOOTSTRAP): the baseline consumes the same kind of events and produces one message
per event to an output topic with acks=all, committing offsets as it goes — the minimum a
stream processor does. ingestd runs `ingestd worker` (SQLite catalog, local blob store),
which also validates each input and commits a catalog transaction per event. Prints
events/s of both and the ratio (goal >= 0.5), then the end-to-end latency percentiles of
ingestd at a fixed moderate rate (goal: p99 < 500 ms at 100 events/s).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from report import options  # noqa: E402

from connectors.catalog import SqlCatalog  # noqa: E402
from connectors.producer import IngestClient  # noqa: E402
from ingestd.app.settings import Settings  # noqa: E402
from pipeline.events import UploadRequest  # noqa: E402
from pipeline.models import Data, Input, Text  # noqa: E402
from tests.support.kafka_broker import KafkaBroker, free_port  # noqa: E402
from tests.support.kafka_harness import WorkerProcess, wait_for  # noqa: E402


def event(i: int) -> UploadRequest:
    return UploadRequest(inputs=[Input(id=f"e-{i}", data=Data(text=Text(raw=f"event {i}")))])


async def plain_loop(bootstrap: str, n: int) -> float:
    """Consume n events, produce one message each (acks=all), commit: events/s."""
    src, dst = f"plain-in-{uuid.uuid4().hex[:6]}", f"plain-out-{uuid.uuid4().hex[:6]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    for i in range(n):
        await producer.send(src, event(i).model_dump_json().encode(), key=b"main")
    await producer.flush()
    consumer = AIOKafkaConsumer(
        src, bootstrap_servers=bootstrap, group_id=f"plain-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=True, auto_commit_interval_ms=1000,
    )
    await consumer.start()
    done = 0
    started = None
    try:
        async for msg in consumer:
            started = started or time.perf_counter()
            req = UploadRequest.model_validate_json(msg.value)  # parse, as any processor would
            await (await producer.send(dst, req.inputs[0].model_dump_json().encode()))
            done += 1
            if done == n:
                break
    finally:
        await consumer.stop()
        await producer.stop()
    assert started is not None
    return n / (time.perf_counter() - started)


def settings_for(work: Path, bootstrap: str) -> Settings:
    tag = uuid.uuid4().hex[:6]
    return Settings(
        broker=f"kafka://{bootstrap}", topic_prefix=f"b{tag}-",
        catalog=f"sqlite:///{work}/catalog-{tag}.db", blobs=f"file://{work}/blobs-{tag}",
    )


def ingestd_throughput(work: Path, bootstrap: str, n: int) -> float:
    settings = settings_for(work, bootstrap)
    SqlCatalog(settings.catalog).close()  # create the schema before the worker races for it
    worker = WorkerProcess(settings, work / "worker.log").start()
    catalog = SqlCatalog(settings.catalog)
    try:
        warm = IngestClient(bootstrap, topic_prefix=settings.topic_prefix)
        warm.send(event(-1))
        warm.flush()
        wait_for(lambda: _stored(catalog) >= 1, 120, "the worker to start")
        for i in range(n):
            warm.send(event(i))
        warm.flush()
        started = time.perf_counter()
        first = _stored(catalog)
        wait_for(lambda: _stored(catalog) >= n + 1, 600, "all events", every=0.05)
        return (n + 1 - first) / (time.perf_counter() - started)
    finally:
        worker.stop()
        catalog.close()


def ingestd_latency(work: Path, bootstrap: str, n: int, rate: float) -> list[float]:
    """Milliseconds from the request's creation to its committed catalog row."""
    settings = settings_for(work, bootstrap)
    SqlCatalog(settings.catalog).close()
    worker = WorkerProcess(settings, work / "worker-latency.log").start()
    catalog = SqlCatalog(settings.catalog)
    try:
        client = IngestClient(bootstrap, topic_prefix=settings.topic_prefix, linger_ms=0)
        client.send(event(-1))
        client.flush()
        wait_for(lambda: _stored(catalog) >= 1, 120, "the worker to start")
        sent: dict[str, datetime] = {}
        t0 = time.perf_counter()
        for i in range(n):
            time.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            req = event(i)
            sent[req.inputs[0].id or ""] = req.created_at
            client.send(req)
            client.flush()
        wait_for(lambda: _stored(catalog) >= n + 1, 300, "all events")
        rows = catalog.list_inputs("me", "main", limit=n + 10)
        return [
            (r["created_at"].replace(tzinfo=UTC) - sent[r["id"]]).total_seconds() * 1000
            for r in rows if r["id"] in sent
        ]
    finally:
        worker.stop()
        catalog.close()


def _stored(catalog: SqlCatalog) -> int:
    return catalog.input_counts("me", "main")["processed"]


def main() -> None:
    args = options(__doc__, events=3000, rate=100.0, latency_events=1000)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
        broker = None
        if not bootstrap:
            broker = KafkaBroker(work / "kafka", free_port())
            broker.start()
            bootstrap = broker.bootstrap
        try:
            plain = asyncio.run(plain_loop(bootstrap, args.events))
            ours = ingestd_throughput(work, bootstrap, args.events)
            plain2 = asyncio.run(plain_loop(bootstrap, args.events))
            latencies = ingestd_latency(work, bootstrap, args.latency_events, args.rate)
        finally:
            if broker:
                broker.stop()
    base = max(plain, plain2)
    print(
        f"plain aiokafka consume+produce : {base:8.1f} events/s  "
        f"(runs: {plain:.0f}, {plain2:.0f})"
    )
    print(f"ingestd worker, ingest stage   : {ours:8.1f} events/s")
    print(f"ratio ingestd/plain            : {ours / base:.2f}  (goal >= 0.5)")
    q = statistics.quantiles(latencies, n=100)
    print(f"end-to-end latency at {args.rate:.0f} events/s over {len(latencies)} events: "
          f"p50 {q[49]:.0f} ms, p95 {q[94]:.0f} ms, p99 {q[98]:.0f} ms (goal p99 < 500 ms)")


if __name__ == "__main__":
    from report import peak_memory_line

    main()
    print(peak_memory_line())
