"""Snapshot benchmark: dataset versions of 100,000 and 1,000,000 inputs, SQLite and PostgreSQL.

Each dataset has two annotations per input (an input-level concept and a bounding box).
Rows are bulk-inserted straight into the catalog tables (SQLAlchemy executemany) so the
set-up takes seconds, not the hours real uploads would. Every snapshot runs in a fresh
subprocess, which reports its wall time and peak resident memory (VmHWM), so the
figures are the snapshot's own. Goals: 1M ≤ 11× the 100k time (linear), 100k < 10 s,
peak memory < 300 MB.

    .venv/bin/python bench/snapshot_bench.py                       # 100k and 1M, both catalogs
    .venv/bin/python bench/snapshot_bench.py --sizes 100000 --catalogs sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USER, APP, DATASET = "bench", "main", "big"
CHUNK = 20_000


def populate(url: str, n: int) -> float:
    """Insert n inputs, their dataset memberships and 2n annotations; returns seconds."""
    from connectors.catalog import SqlCatalog
    from connectors.catalog import schema as t

    started = time.perf_counter()
    catalog = SqlCatalog(url)
    now = datetime.now(UTC)
    with catalog.begin() as conn:
        conn.execute(
            t.datasets.insert().values(
                user_id=USER,
                app_id=APP,
                id=DATASET,
                description="bench",
                metadata={},
                created_at=now,
                modified_at=now,
            )
        )
    for start in range(0, n, CHUNK):
        ids = range(start, min(n, start + CHUNK))
        inputs, members, anns = [], [], []
        for k in ids:
            input_id = f"in-{k:08d}"
            digest = f"{k:064x}"
            inputs.append(
                {
                    "user_id": USER,
                    "app_id": APP,
                    "id": input_id,
                    "media_type": "image",
                    "format": "jpeg",
                    "status_code": 30000,
                    "status_message": "",
                    "blob_key": f"media/{USER}/{APP}/{digest[:2]}/{digest}.jpg",
                    "sha256": digest,
                    "size": 20_000 + k % 1000,
                    "width": 640,
                    "height": 480,
                    "source_url": None,
                    "concepts": [{"id": f"c{k % 50}", "value": 1.0}],
                    "metadata": {"batch": k // 1000} if k % 3 == 0 else {},
                    "geo": {"geo_point": {"latitude": 1.5, "longitude": 2.5}}
                    if k % 5 == 0
                    else None,
                    "fingerprint": digest,
                    "request_id": "bench",
                    "job_id": None,
                    "source": "bench",
                    "created_at": now,
                    "modified_at": now,
                }
            )
            members.append(
                {
                    "user_id": USER,
                    "app_id": APP,
                    "dataset_id": DATASET,
                    "input_id": input_id,
                    "added_at": now,
                }
            )
            anns.append(
                _ann(
                    input_id,
                    "a",
                    {"concepts": [{"id": f"c{k % 50}", "value": 1.0}]},
                    USER,
                    None,
                    now,
                )
            )
            box = {"top_row": 0.1, "left_col": 0.2, "bottom_row": 0.6, "right_col": 0.7}
            region = {
                "region_info": {"bounding_box": box},
                "data": {"concepts": [{"id": f"obj{k % 20}", "value": 1.0}]},
            }
            anns.append(
                _ann(
                    input_id,
                    "b",
                    {"regions": [region]},
                    "alice" if k % 2 else "bob",
                    "mv-1" if k % 4 == 0 else None,
                    now,
                )
            )
        with catalog.begin() as conn:
            conn.execute(t.inputs.insert(), inputs)
            conn.execute(t.dataset_inputs.insert(), members)
            conn.execute(t.annotations.insert(), anns)
    if catalog.dialect == "postgresql":
        with catalog.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    catalog.close()
    return time.perf_counter() - started


def _ann(
    input_id: str, tag: str, data: dict[str, Any], user: str, model: str | None, now: datetime
) -> dict[str, Any]:
    return {
        "user_id": USER,
        "app_id": APP,
        "id": f"{input_id}-{tag}",
        "input_id": input_id,
        "annotation_user_id": user,
        "status": "ANNOTATION_SUCCESS",
        "data": data,
        "task_id": None,
        "model_version_id": model,
        "annotation_info": {},
        "created_at": now,
        "modified_at": now,
    }


def run_one(url: str, blobs: str, version_id: str) -> None:
    """In a fresh process: one snapshot; prints seconds, peak RSS and the result as JSON."""
    from connectors.blobs import LocalBlobStore
    from connectors.catalog import SqlCatalog
    from pipeline.events import SnapshotRequest
    from pipeline.snapshot.stage import SnapshotStage

    catalog = SqlCatalog(url)
    stage = SnapshotStage(LocalBlobStore(blobs), catalog.versions)
    base_kb = _peak_kb()
    cpu0 = time.process_time()
    started = time.perf_counter()
    result = stage.handle(
        SnapshotRequest(user_id=USER, app_id=APP, dataset_id=DATASET, version_id=version_id)
    )
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    peak_kb = _peak_kb()
    v = result.version
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "load": os.getloadavg()[0],
                "peak_mb": peak_kb / 1024,
                "before_mb": base_kb / 1024,
                "status": v.status_code,
                "message": v.status_message,
                "inputs": (v.metrics or {}).get("inputs_count"),
                "annotations": (v.metrics or {}).get("annotations_count"),
                "manifest_mb": (v.manifest_size or 0) / 2**20,
                "content_hash": v.content_hash,
            }
        )
    )


def _peak_kb() -> int:
    """Peak resident memory of this process (VmHWM): ru_maxrss would carry the parent's
    peak across fork + exec on Linux."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(url: str, blobs: str, version_id: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--run-one", url, blobs, version_id],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--catalogs", nargs="+", default=["sqlite", "postgres"])
    p.add_argument(
        "--run-one", nargs=3, metavar=("URL", "BLOBS", "VERSION"), help=argparse.SUPPRESS
    )
    args = p.parse_args()
    if args.run_one:
        run_one(*args.run_one)
        return
    cluster = None
    rows: list[tuple[str, int, float, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="ingestd-snapbench-") as tmp:
        try:
            for catalog in args.catalogs:
                if catalog == "postgres" and cluster is None:
                    from tests.support.pg_cluster import PostgresCluster

                    cluster = PostgresCluster()
                    cluster.start()
                for n in args.sizes:
                    if catalog == "sqlite":
                        url = f"sqlite:///{tmp}/bench-{n}.db"
                    else:
                        assert cluster is not None
                        url = cluster.create_database(f"bench_{n}")
                    setup = populate(url, n)
                    print(f"{catalog:8} {n:>9,} inputs: set up in {setup:.1f}s", flush=True)
                    result = measure(url, f"{tmp}/blobs", f"v-{catalog}-{n}")
                    if result["status"] != 64015:
                        raise SystemExit(f"snapshot failed: {result}")
                    rows.append((catalog, n, setup, result))
                    print(
                        f"{catalog:8} {n:>9,} inputs: snapshot {result['seconds']:.1f}s "
                        f"(client CPU {result['cpu_seconds']:.1f}s, load {result['load']:.1f}), "
                        f"peak RSS {result['peak_mb']:.0f} MB (process at start "
                        f"{result['before_mb']:.0f} MB), manifest {result['manifest_mb']:.0f} MB",
                        flush=True,
                    )
        finally:
            if cluster is not None:
                cluster.stop()
    report(rows)


def report(rows: list[tuple[str, int, float, dict[str, Any]]]) -> None:
    print()
    print(
        f"{'catalog':8} {'inputs':>10} {'annotations':>12} {'snapshot s':>11} {'client CPU s':>13}"
        f" {'inputs/s':>9} {'peak MB':>8} {'load':>5}"
    )
    for catalog, n, _setup, r in rows:
        print(
            f"{catalog:8} {n:>10,} {r['annotations']:>12,} {r['seconds']:>11.1f} "
            f"{r['cpu_seconds']:>13.1f} {n / r['seconds']:>9,.0f} {r['peak_mb']:>8.0f} "
            f"{r['load']:>5.1f}"
        )
    for catalog in sorted({c for c, *_ in rows}):
        mine = sorted((n, r) for c, n, _s, r in rows if c == catalog)
        if len(mine) >= 2:
            (n0, r0), (n1, r1) = mine[0], mine[-1]
            print(
                f"{catalog}: {n1:,} / {n0:,} time ratio {r1['seconds'] / r0['seconds']:.2f}, "
                f"client CPU ratio {r1['cpu_seconds'] / r0['cpu_seconds']:.2f} "
                f"(size ratio {n1 / n0:.0f}, goal <= {1.1 * n1 / n0:.0f})"
            )
    worst = max(r["peak_mb"] for *_x, r in rows)
    print(f"peak memory (worst run): {worst:.0f} MB (goal < 300 MB)")


if __name__ == "__main__":
    from report import peak_memory_line

    main()
    if "--run-one" not in sys.argv:  # a child's output is the JSON its parent reads
        print(peak_memory_line())
