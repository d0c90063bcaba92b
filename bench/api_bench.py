"""`ingestd serve` with the official SDK versus `ingestd import folder`, and HTTP latency.

    .venv/bin/python bench/api_bench.py [--files 2000] [--labels 10] [--posts 2000] [--clients 16]

1. The same folder of small labelled PNGs (one sub-folder per label) goes into the same kind
   of store (SQLite catalog, local blobs) twice: through the SDK's `Dataset.upload_from_folder`
   (one call per label folder) into `ingestd serve` running in its own process, and through
   the folder importer (`ingestd import folder`) in this process. Prints files/s of both and
   the ratio serve/import (goal >= 0.8).
2. Small text inputs posted over HTTP (one input per request, keep-alive) by `--clients`
   concurrent clients: inputs/s, p50 and p99 latency.
3. The serve process's peak memory (VmHWM) over both.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from report import free_port, options, rate_line, start_server, timed_folder_import  # noqa: E402

from connectors.catalog.sql import SqlCatalog  # noqa: E402
from ingestd.app.settings import Settings  # noqa: E402
from pipeline.keys import Scope, new_key  # noqa: E402


def make_pngs(folder: Path, count: int, labels: int) -> int:
    total = 0
    for n in range(count):
        path = folder / f"label{n % labels}" / f"img{n:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.frombytes("RGB", (48, 48), os.urandom(48 * 48 * 3)).save(path, "PNG")
        total += path.stat().st_size
    return total


def start_serve(work: Path) -> tuple[subprocess.Popen[bytes], int, int, str]:
    catalog = f"sqlite:///{work}/serve.db"
    key, secret = new_key("me", "main", [Scope.ALL])
    SqlCatalog(catalog).keys.add(key)
    grpc_port, http_port = free_port(), free_port()
    env = os.environ | {
        "INGESTD_CATALOG": catalog,
        "INGESTD_BLOBS": f"file://{work}/serve-blobs",
        "INGESTD_GRPC_PORT": str(grpc_port),
        "INGESTD_HTTP_PORT": str(http_port),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    serve = [sys.executable, "-c", "from ingestd.cli import main; main()", "serve"]
    proc = start_server(serve, http_port, "ingestd serve", 60, env)
    return proc, grpc_port, http_port, secret


def sdk_upload(folder: Path, grpc_port: int, secret: str) -> float:
    from clarifai.client.dataset import Dataset

    logging.getLogger("clarifai").setLevel(logging.ERROR)
    dataset = Dataset(
        user_id="me",
        app_id="main",
        dataset_id="bench",
        base_url=f"http://127.0.0.1:{grpc_port}",
        pat=secret,
    )
    started = time.perf_counter()
    for sub in sorted(folder.iterdir()):
        dataset.upload_from_folder(folder_path=str(sub), input_type="image", labels=True)
    return time.perf_counter() - started


def folder_import(folder: Path, work: Path) -> float:
    settings = Settings(
        catalog=f"sqlite:///{work}/import.db", blobs=f"file://{work}/import-blobs", workers=2
    )
    return timed_folder_import(settings, folder)


def http_posts(port: int, secret: str, posts: int, clients: int) -> tuple[float, list[float]]:
    """Seconds for all posts, and each post's latency."""
    headers = {"Authorization": f"Key {secret}", "Content-Type": "application/json"}
    per_client = posts // clients

    def client(c: int) -> list[float]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        took = []
        for n in range(per_client):
            body = json.dumps(
                {"inputs": [{"id": f"c{c}-{n}", "data": {"text": {"raw": f"text {c} {n}"}}}]}
            )
            t = time.perf_counter()
            conn.request("POST", "/v2/inputs", body=body, headers=headers)
            answer = json.loads(conn.getresponse().read())
            took.append(time.perf_counter() - t)
            if answer["status"]["code"] != 10000:
                raise RuntimeError(f"post refused: {answer['status']}")
        conn.close()
        return took

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [t for part in pool.map(client, range(clients)) for t in part]
    return time.perf_counter() - started, latencies


def stored(work: Path) -> int:
    return sum(1 for _ in SqlCatalog(f"sqlite:///{work}/serve.db").iter_inputs("me", "main"))


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    args = options(__doc__, files=2000, labels=10, posts=2000, clients=16)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = work / "images"
        size = make_pngs(folder, args.files, args.labels)
        print(f"{args.files} PNGs in {args.labels} label folders, {size / args.files:.0f} B each")
        proc, grpc_port, http_port, secret = start_serve(work)
        try:
            ours = sdk_upload(folder, grpc_port, secret)
            if stored(work) != args.files:
                raise RuntimeError(f"serve stored {stored(work)} of {args.files} images")
            base = folder_import(folder, work)
            took, latencies = http_posts(http_port, secret, args.posts, args.clients)
            peak = peak_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    latencies.sort()
    posted = len(latencies)
    print(rate_line("ingestd import folder      ", args.files, "files", [base]))
    print(rate_line("SDK upload_from_folder/serve", args.files, "files", [ours]))
    print(f"ratio serve/import: {base / ours:.2f}  (goal >= 0.8)")
    print(
        f"HTTP PostInputs, {args.clients} clients, 1 text input each: {posted / took:.1f} "
        f"inputs/s, p50 {latencies[posted // 2] * 1000:.1f} ms, "
        f"p99 {latencies[int(posted * 0.99) - 1] * 1000:.1f} ms"
    )
    print(f"serve peak memory (VmHWM): {peak:.0f} MB")


if __name__ == "__main__":
    main()
