"""Small upload events through Kafka and the ingest stage versus a careful plain aiokafka loop.

    .venv/bin/python bench/stream_bench.py [--events 5000] [--rate 1000] [--latency-events 5000]

Both sides run on the same real broker (started here from the cached jars, or
KAFKA_BOOTSTRAP) and read the very same upload events (produced once by `IngestClient`, one
text input each, over the topic's partitions). The baseline is what a careful hand-written
consumer does: per poll batch it parses each event, writes each input's bytes to a file and
its row to SQLite in one transaction, then commits the offsets. ingestd runs `ingestd worker`
on the same stores (SQLite catalog, local blob store), which also validates each input,
resolves its id, and records the processed event (batches per transaction,
INGESTD_STREAM__*). Prints events/s of both and the ratio (goal >= 0.5), then ingestd's
end-to-end latency at a fixed offered load (goal: p99 < 500 ms at 1,000 events/s).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer  # noqa: E402
from report import options  # noqa: E402

from connectors.catalog import SqlCatalog  # noqa: E402
from connectors.producer import IngestClient  # noqa: E402
from ingestd.app.settings import Settings  # noqa: E402
from pipeline.events import UploadRequest  # noqa: E402
from pipeline.models import Data, Input, Text  # noqa: E402
from streams.kafka_app import ensure_topics  # noqa: E402
from tests.support.kafka_broker import KafkaBroker, free_port  # noqa: E402
from tests.support.kafka_harness import WorkerProcess, wait_for  # noqa: E402


def event(i: int) -> UploadRequest:
    return UploadRequest(inputs=[Input(id=f"e-{i}", data=Data(text=Text(raw=f"event {i}")))])


def settings_for(work: Path, bootstrap: str) -> Settings:
    tag = uuid.uuid4().hex[:6]
    return Settings(
        broker=f"kafka://{bootstrap}", topic_prefix=f"b{tag}-",
        catalog=f"sqlite:///{work}/catalog-{tag}.db", blobs=f"file://{work}/blobs-{tag}",
    )


def produce(settings: Settings, bootstrap: str, first: int, n: int) -> None:
    client = IngestClient(bootstrap, topic_prefix=settings.topic_prefix)
    for i in range(first, first + n):
        client.send(event(i))
    client.flush()


async def plain_loop(bootstrap: str, topic: str, work: Path, n: int) -> float:
    """Consume n upload events: per poll batch, files + one SQLite transaction, then commit."""
    blobs = work / f"plain-blobs-{uuid.uuid4().hex[:6]}"
    db = sqlite3.connect(work / f"plain-{uuid.uuid4().hex[:6]}.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # as ingestd's SQLite catalog
    db.execute(
        "CREATE TABLE inputs (id TEXT PRIMARY KEY, request_id TEXT, blob_key TEXT, "
        "sha256 TEXT, size INTEGER, created_at TEXT)"
    )
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"plain-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    done = 0
    started = None
    try:
        while done < n:
            polled = await consumer.getmany(timeout_ms=100, max_records=500)
            rows = []
            for messages in polled.values():
                for msg in messages:
                    started = started or time.perf_counter()
                    req = UploadRequest.model_validate_json(msg.value)  # as any processor would
                    for item in req.inputs:
                        data = (item.data.text.raw if item.data.text else "").encode()
                        sha = hashlib.sha256(data).hexdigest()
                        key = f"{sha[:2]}/{sha}.txt"
                        path = blobs / key
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(data)
                        rows.append((item.id, req.request_id, key, sha, len(data),
                                     datetime.now(UTC).isoformat()))
                    done += 1
            if rows:
                with db:  # one transaction per poll batch
                    db.executemany("INSERT OR REPLACE INTO inputs VALUES (?, ?, ?, ?, ?, ?)", rows)
            if polled:
                await consumer.commit()
    finally:
        await consumer.stop()
        db.close()
    assert started is not None
    return done / (time.perf_counter() - started)


def ingestd_throughput(settings: Settings, work: Path, n: int) -> float:
    """The worker on events already waiting (the same ones the baseline read): events/s."""
    worker = WorkerProcess(settings, work / "worker.log").start()
    catalog = SqlCatalog(settings.catalog)
    try:
        wait_for(lambda: _stored(catalog) >= 1, 120, "the worker to start", every=0.01)
        started = time.perf_counter()
        first = _stored(catalog)
        wait_for(lambda: _stored(catalog) >= n, 600, "all events", every=0.05)
        return (n - first) / (time.perf_counter() - started)
    finally:
        worker.stop()
        catalog.close()


def ingestd_latency(work: Path, bootstrap: str, n: int, rate: float) -> list[float]:
    """Milliseconds from each request's creation to its committed catalog row, at `rate`."""
    settings = settings_for(work, bootstrap)
    SqlCatalog(settings.catalog).close()
    worker = WorkerProcess(settings, work / "worker-latency.log").start()
    catalog = SqlCatalog(settings.catalog)
    try:
        client = IngestClient(bootstrap, topic_prefix=settings.topic_prefix, linger_ms=1)
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
        print(f"offered {n} events in {time.perf_counter() - t0:.2f}s")
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
    args = options(__doc__, events=5000, rate=1000.0, latency_events=5000)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
        broker = None
        if not bootstrap:
            broker = KafkaBroker(work / "kafka", free_port())
            broker.start()
            bootstrap = broker.bootstrap
        try:
            settings = settings_for(work, bootstrap)
            topic = settings.topic_prefix + "ingestd.uploads"
            ensure_topics(settings.broker, [topic], settings.partitions)
            SqlCatalog(settings.catalog).close()  # the schema, before the worker races for it
            produce(settings, bootstrap, 0, args.events)
            plain = asyncio.run(plain_loop(bootstrap, topic, work, args.events))
            ours = ingestd_throughput(settings, work, args.events)
            plain2 = asyncio.run(plain_loop(bootstrap, topic, work, args.events))
            latencies = ingestd_latency(work, bootstrap, args.latency_events, args.rate)
        finally:
            if broker:
                broker.stop()
    base = max(plain, plain2)
    print(
        f"plain aiokafka loop (file + SQLite per poll batch): {base:8.1f} events/s  "
        f"(runs: {plain:.0f}, {plain2:.0f})"
    )
    print(f"ingestd worker, ingest stage                     : {ours:8.1f} events/s")
    print(f"ratio ingestd/plain                              : {ours / base:.2f}  (goal >= 0.5)")
    q = statistics.quantiles(latencies, n=100)
    print(f"end-to-end latency at {args.rate:.0f} events/s over {len(latencies)} events: "
          f"p50 {q[49]:.0f} ms, p95 {q[94]:.0f} ms, p99 {q[98]:.0f} ms (goal p99 < 500 ms)")


if __name__ == "__main__":
    from report import peak_memory_line

    main()
    print(peak_memory_line())
