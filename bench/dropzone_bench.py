"""An S3 drop zone ingested by an extraction job versus a plain boto3 list-and-get loop.

    .venv/bin/python bench/dropzone_bench.py [--objects 4000] [--concurrency 16] [--rounds 2]

One bucket of small JPEGs on a moto S3 server running in its own process on loopback.
The baseline lists the bucket (list_objects_v2 pages) and reads every object with the
same number of concurrent GETs as the job. The job (embedded default: in-process bus,
SQLite catalog, local blob store, all fresh each round) lists, reads, types each object
by content, decodes and hashes each image, stores blob and catalog rows and keeps its
ledger and progress. Rounds alternate baseline / job; the best round of each is compared.
Prints objects/s of both and the ratio (goal: job >= 0.7 of the plain loop).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_bench import s3_client, start_moto  # noqa: E402
from report import options, rate_line  # noqa: E402

from connectors.importers.extraction_job import ExtractionJobRunner  # noqa: E402
from connectors.importers.s3_source import S3Credentials  # noqa: E402
from ingestd.app.runtime import Runtime  # noqa: E402
from ingestd.app.settings import Settings  # noqa: E402


def small_jpeg(n: int) -> bytes:
    # Noise at 96x96: ~8 KB, a thumbnail-sized image that still has to be decoded.
    img = Image.frombytes("RGB", (96, 96), os.urandom(96 * 96 * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def fill_bucket(endpoint: str, count: int, concurrency: int) -> tuple[str, int]:
    client = s3_client(endpoint, concurrency)
    bucket = f"drop-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    total = 0

    def put(n: int) -> int:
        body = small_jpeg(n)
        client.put_object(Bucket=bucket, Key=f"zone/class{n % 10}/img{n:06d}.jpg", Body=body)
        return len(body)

    with ThreadPoolExecutor(concurrency) as pool:
        total = sum(pool.map(put, range(count)))
    return bucket, total


def baseline(endpoint: str, bucket: str, concurrency: int) -> tuple[float, float, int]:
    client = s3_client(endpoint, concurrency)
    started, cpu = time.perf_counter(), time.process_time()

    def get(key: str) -> int:
        return len(client.get_object(Bucket=bucket, Key=key)["Body"].read())

    keys = (
        obj["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="zone/")
        for obj in page.get("Contents", [])
    )
    with ThreadPoolExecutor(concurrency) as pool:
        got = sum(1 for _ in pool.map(get, keys))
    return time.perf_counter() - started, time.process_time() - cpu, got


def job(endpoint: str, bucket: str, concurrency: int, workdir: Path) -> tuple[float, float, int]:
    run = workdir / uuid.uuid4().hex[:8]
    base = Settings(
        blobs=f"file://{run}/blobs",
        catalog=f"sqlite:///{run}/catalog.db",
        workers=2,
    )
    dropzone = base.dropzone.model_copy(
        update={"concurrency": concurrency, "work_dir": str(run / "extract")}
    )
    settings = base.model_copy(update={"dropzone": dropzone})  # settings are frozen
    creds = S3Credentials(
        region="us-east-1",
        access_key_id="bench",
        secret_access_key=SecretStr("bench"),
        endpoint_url=endpoint,
    )
    with Runtime.open(settings) as rt:
        started, cpu = time.perf_counter(), time.process_time()
        row = rt.catalog.jobs.create(
            settings.user_id,
            settings.app_id,
            f"s3://{bucket}/zone/",
            conflict_resolution="SKIP",
            input_template={},
            watch=False,
            credentials=creds.source,
        )
        outcome = ExtractionJobRunner(
            submit=rt.submit,
            catalog=rt.catalog,
            user_id=settings.user_id,
            app_id=settings.app_id,
            limits=settings.limits,
            config=settings.dropzone,
            job_id=row["id"],
            credentials=creds,
        ).run()
        elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    stored = outcome.job["image_inputs_count"]
    if outcome.failed or outcome.actions["created"] != stored:
        raise RuntimeError(f"the job did not store every object: {outcome.to_dict()}")
    return elapsed, used, stored


def main() -> None:
    args = options(__doc__, objects=4000, concurrency=16, rounds=2)

    proc, endpoint = start_moto()
    try:
        bucket, size = fill_bucket(endpoint, args.objects, args.concurrency)
        print(
            f"{args.objects} JPEGs, {size / args.objects / 1024:.1f} KB on average, "
            f"concurrency {args.concurrency}"
        )
        plain, ours, plain_cpu, our_cpu = [], [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.rounds):
                seconds, cpu, got = baseline(endpoint, bucket, args.concurrency)
                assert got == args.objects, got
                plain.append(seconds)
                plain_cpu.append(cpu)
                seconds, cpu, stored = job(endpoint, bucket, args.concurrency, Path(tmp))
                assert stored == args.objects, stored
                ours.append(seconds)
                our_cpu.append(cpu)
    finally:
        proc.terminate()
        proc.wait(10)
    print(rate_line("plain list + get  ", args.objects, "objects", plain))
    print(rate_line("extraction job    ", args.objects, "objects", ours))
    print(
        f"client CPU/object : plain {min(plain_cpu) / args.objects * 1000:.2f} ms, "
        f"job {min(our_cpu) / args.objects * 1000:.2f} ms"
    )
    print(f"ratio job/plain   : {min(plain) / min(ours):.2f}  (goal >= 0.7)")


if __name__ == "__main__":
    from report import peak_memory_line

    main()
    print(peak_memory_line())
