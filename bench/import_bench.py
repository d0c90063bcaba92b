"""Folder import into S3 (moto server) versus a plain boto3 upload of the same files.

    .venv/bin/python bench/import_bench.py [--files 2000] [--concurrency 8] [--rounds 2]

Both sides upload the same JPEGs (~200 KB each) to a moto S3 server running in its own
process on loopback, with the same number of concurrent uploads. ingestd additionally
decodes every image, hashes it, writes catalog rows (SQLite) and checks limits. Rounds
alternate baseline / ingestd so drift on a shared machine hits both; the best round of
each is compared. Prints files/s of both and the ratio (goal: ingestd >= 0.8).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from report import free_port, options, rate_line, start_server, timed_folder_import  # noqa: E402

from connectors.importers.folder import iter_files  # noqa: E402
from ingestd.app.settings import Settings  # noqa: E402


def make_jpegs(folder: Path, count: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for n in range(count):
        # Noise compresses badly: 448x448 at quality 92 is ~200 KB, a realistic photo size.
        img = Image.frombytes("RGB", (448, 448), os.urandom(448 * 448 * 3))
        path = folder / f"class{n % 10}" / f"img{n:05d}.jpg"
        path.parent.mkdir(exist_ok=True)
        img.save(path, "JPEG", quality=92)
        total += path.stat().st_size
    return total


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return start_server(moto, port, "moto server", 30), f"http://127.0.0.1:{port}"


def s3_client(endpoint: str, concurrency: int):  # type: ignore[no-untyped-def]
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
        config=Config(max_pool_connections=concurrency * 2),
    )


def baseline(folder: Path, endpoint: str, concurrency: int) -> float:
    client = s3_client(endpoint, concurrency)
    bucket = f"plain-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    files = list(iter_files(folder))
    started = time.perf_counter()

    def put(path: Path) -> None:
        key = path.relative_to(folder).as_posix()
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(put, files))
    return time.perf_counter() - started


def ingestd_import(folder: Path, endpoint: str, concurrency: int, workdir: Path) -> float:
    settings = Settings(
        blobs=f"s3://ingestd-{uuid.uuid4().hex[:8]}/bench",
        catalog=f"sqlite:///{workdir}/catalog-{uuid.uuid4().hex[:8]}.db",
        s3_endpoint_url=endpoint,
        s3_access_key_id="bench",  # type: ignore[arg-type]
        s3_secret_access_key="bench",  # type: ignore[arg-type]
        workers=2,
        blob_concurrency=max(1, concurrency // 2),  # two stage workers: same total uploads
    )
    return timed_folder_import(settings, folder)


def main() -> None:
    args = options(__doc__, files=2000, concurrency=8, rounds=2)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = work / "images"
        size = make_jpegs(folder, args.files)
        print(
            f"{args.files} JPEGs, {size / args.files / 1024:.0f} KB on average, "
            f"concurrency {args.concurrency}"
        )
        proc, endpoint = start_moto()
        try:
            plain, ours = [], []
            for _ in range(args.rounds):
                plain.append(baseline(folder, endpoint, args.concurrency))
                ours.append(ingestd_import(folder, endpoint, args.concurrency, work))
        finally:
            proc.terminate()
            proc.wait(10)
    print(rate_line("plain boto3 upload ", args.files, "files", plain))
    print(rate_line("ingestd import     ", args.files, "files", ours))
    print(f"ratio ingestd/plain: {min(plain) / min(ours):.2f}  (goal >= 0.8)")


if __name__ == "__main__":
    from report import peak_memory_line

    main()
    print(peak_memory_line())
