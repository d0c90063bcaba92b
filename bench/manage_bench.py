"""Manage benchmark: search, patch, delete and gc on a catalog of 1,000,000 inputs.

The catalog is made by the real migrations (`SqlCatalog(url)`), then filled by bulk inserts
straight into its tables (SQLAlchemy Core executemany on SQLite, COPY on PostgreSQL) — not
through uploads, which would take hours. The rows are shaped like real ones: 1-3 concepts
per input drawn from 500 with a Zipf-like skew (5% of them negative, value 0), metadata with
a split (80/10/10), a camera (70% of inputs, one of 40), a batch number, sometimes a flag and
a nested device object, and the input-level annotation ingest writes for each input.

Measured, best of `--rounds` each:
- search by a concept plus a metadata key through `InputCatalog.listing` (what
  `ingestd inputs list --concept X --metadata '{...}'` runs), every match in pages of 10,000,
  against the same question in hand-written SQL on a raw DB-API connection of the same
  catalog (same indexes); both must return the same ids. Goal: handwritten / ingestd >= 0.5.
  On PostgreSQL the plans' index names are printed (EXPLAIN).
- a metadata merge-patch of a tenth of the inputs (100,000) through `InputCatalog.patch_inputs`.
- a delete of another tenth through `InputCatalog.delete_inputs`, then `gc` over a local
  directory store holding a small blob for `--blobs` (10,000) of the deleted inputs and as
  many kept ones: fewer blobs than deleted inputs, since gc's lookup of a page of blob keys
  scans the inputs table (inputs.blob_key has no index).

    .venv/bin/python bench/manage_bench.py                        # 1M, SQLite and PostgreSQL
    .venv/bin/python bench/manage_bench.py --size 100000 --catalogs sqlite
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.blobs import LocalBlobStore  # noqa: E402
from connectors.catalog import SqlCatalog  # noqa: E402
from connectors.catalog import schema as t  # noqa: E402
from connectors.catalog.search import _paged  # noqa: E402
from connectors.gc import collect_garbage  # noqa: E402
from pipeline.ingest.manage import InputPatch  # noqa: E402
from pipeline.limits import Limits  # noqa: E402
from pipeline.patching import PatchAction  # noqa: E402
from pipeline.records import input_level_id  # noqa: E402
from pipeline.search import MAX_PAGE, InputQuery  # noqa: E402

USER, APP = "bench", "main"
CHUNK = 20_000
CONCEPTS = [f"c{i}" for i in range(500)]
CONCEPT_WEIGHTS = list(
    __import__("itertools").accumulate(1 / (i + 1) for i in range(len(CONCEPTS)))
)
SEARCH_CONCEPT, SEARCH_META = "c3", {"camera": "cam-7"}


def input_id(k: int) -> str:
    return f"in-{k:08d}"


def blob_key(k: int) -> str:
    digest = f"{k:064x}"
    return f"media/{USER}/{APP}/{digest[-2:]}/{digest}.jpg"


def rows(n: int, now: datetime) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(inputs, annotations) a chunk at a time, the same for every catalog (seeded)."""
    rng = random.Random(12)
    for start in range(0, n, CHUNK):
        inputs, anns = [], []
        for k in range(start, min(n, start + CHUNK)):
            picked = dict.fromkeys(
                rng.choices(CONCEPTS, cum_weights=CONCEPT_WEIGHTS, k=rng.randint(1, 3))
            )
            concepts = [{"id": c, "value": 0.0 if rng.random() < 0.05 else 1.0} for c in picked]
            meta: dict[str, Any] = {"batch": k // 1000}
            r = rng.random()
            meta["split"] = "train" if r < 0.8 else "val" if r < 0.9 else "test"
            if rng.random() < 0.7:
                meta["camera"] = f"cam-{rng.randrange(40)}"
            if rng.random() < 0.2:
                meta["checked"] = rng.random() < 0.5
            if rng.random() < 0.1:
                meta["device"] = {"model": f"x{rng.randrange(5)}", "fw": "1.2"}
            iid = input_id(k)
            inputs.append(
                {
                    "user_id": USER,
                    "app_id": APP,
                    "id": iid,
                    "media_type": "image",
                    "format": "jpeg",
                    "status_code": 30000,
                    "status_message": "",
                    "blob_key": blob_key(k),
                    "sha256": f"{k:064x}",
                    "size": 20_000 + k % 1000,
                    "width": 640,
                    "height": 480,
                    "concepts": concepts,
                    "metadata": meta,
                    "fingerprint": f"{k:064x}",
                    "request_id": f"req-{k // 128}",
                    "source": "folder",
                    "run_id": f"run-{k // 100_000}",
                    "source_uri": f"/data/images/{k // 1000}/{k}.jpg",
                    "created_at": now,
                    "modified_at": now,
                }
            )
            anns.append(
                {
                    "user_id": USER,
                    "app_id": APP,
                    "id": input_level_id(APP, iid),
                    "input_id": iid,
                    "annotation_user_id": USER,
                    "status": "ANNOTATION_SUCCESS",
                    "data": {"concepts": concepts},
                    "annotation_info": {},
                    "created_at": now,
                    "modified_at": now,
                }
            )
        yield inputs, anns


def populate(catalog: SqlCatalog, n: int) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    for inputs, anns in rows(n, now):
        if catalog.dialect == "postgresql":
            _copy(catalog, t.inputs.name, inputs)
            _copy(catalog, t.annotations.name, anns)
        else:
            with catalog.begin() as conn:
                conn.execute(t.inputs.insert(), inputs)
                conn.execute(t.annotations.insert(), anns)
    with catalog.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return time.perf_counter() - started


def _copy(catalog: SqlCatalog, table: str, batch: list[dict[str, Any]]) -> None:
    """COPY rows in (JSON columns as text, which the server parses as jsonb)."""
    cols = list(batch[0])
    raw = catalog.engine.raw_connection()
    try:
        sql = f"COPY {table} ({', '.join(cols)}) FROM STDIN"
        with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[attr-defined]
            for row in batch:
                copy.write_row(
                    [json.dumps(v) if isinstance(v, dict | list) else v for v in row.values()]
                )
        raw.commit()
    finally:
        raw.close()


# -- search ---------------------------------------------------------------------------------


def query() -> InputQuery:
    return InputQuery(concepts=[SEARCH_CONCEPT], metadata=SEARCH_META, limit=MAX_PAGE)


def ingestd_search(catalog: SqlCatalog) -> list[str]:
    """Every match through the catalog's search, a page (with its cursor) at a time."""
    q, ids = query(), []
    while True:
        page = catalog.inputs.listing(USER, APP, q)
        ids += [r["id"] for r in page.rows]
        if page.next_cursor is None:
            return ids
        q = q.model_copy(update={"cursor": page.next_cursor})


HANDWRITTEN = {
    "postgresql": """
        SELECT * FROM inputs
        WHERE user_id = %(user)s AND app_id = %(app)s AND deleted_at IS NULL
          AND metadata @> %(meta)s::jsonb AND concepts @> %(has)s::jsonb
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(concepts) e
                      WHERE e->>'id' = %(concept)s
                        AND COALESCE((e->>'value')::float8, 1) > 0)
        ORDER BY id""",
    "sqlite": """
        SELECT * FROM inputs
        WHERE user_id = :user AND app_id = :app AND deleted_at IS NULL
          AND json_type(metadata, '$.camera') = 'text'
          AND json_extract(metadata, '$.camera') = :camera
          AND EXISTS (SELECT 1 FROM json_each(inputs.concepts) e
                      WHERE json_extract(e.value, '$.id') = :concept
                        AND COALESCE(json_extract(e.value, '$.value'), 1) > 0)
        ORDER BY id""",
}


PARAMS = {
    "user": USER,
    "app": APP,
    "meta": json.dumps(SEARCH_META),
    "has": json.dumps([{"id": SEARCH_CONCEPT}]),
    "concept": SEARCH_CONCEPT,
    "camera": SEARCH_META["camera"],
}


def handwritten_search(catalog: SqlCatalog) -> list[str]:
    """The same question as one hand-written statement on a raw DB-API connection."""
    raw = catalog.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(HANDWRITTEN[catalog.dialect], PARAMS)
        ids = [row[2] for row in cur.fetchall()]  # user_id, app_id, id, ...
        cur.close()
        raw.rollback()
        return ids
    finally:
        raw.close()


def plan_indexes(catalog: SqlCatalog) -> tuple[list[str], list[str]]:
    """The index names in the EXPLAIN plans of the catalog's query and the handwritten one."""
    from sqlalchemy import select

    with catalog.engine.connect() as conn:
        stmt = _paged(query(), USER, APP, conn.dialect.name, select(t.inputs)).limit(MAX_PAGE + 1)
        compiled = stmt.compile(dialect=conn.dialect)
        ours = conn.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params
        ).scalar_one()
        theirs = conn.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + HANDWRITTEN["postgresql"], PARAMS
        ).scalar_one()
    return _index_names(ours), _index_names(theirs)


def _index_names(plan: Any) -> list[str]:
    found: list[str] = []
    stack = [plan]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "Index Name" in item:
                found.append(f"{item['Node Type']} on {item['Index Name']}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(found)


def best(fn: Callable[[], Any], rounds: int) -> tuple[float, list[float], Any]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), times, result


# -- patch, delete, gc ----------------------------------------------------------------------


def patch(catalog: SqlCatalog, n: int) -> tuple[float, int]:
    ids = [input_id(k) for k in range(0, n, 10)]
    change = InputPatch(PatchAction.MERGE, {"metadata": {"reviewed": True, "split": "val"}})
    started = time.perf_counter()
    outcomes = catalog.inputs.patch_inputs(USER, APP, ids, change, Limits())
    seconds = time.perf_counter() - started
    bad = [o for o in outcomes if o.action != "patched"]
    if bad:
        raise SystemExit(f"patch failed: {bad[:3]}")
    return seconds, len(ids)


def make_blobs(root: Path, ks: list[int]) -> float:
    """One small blob per input, as files at the store's paths (as `LocalBlobStore.put` does)."""
    started = time.perf_counter()
    payload = b"\xff\xd8" + b"x" * 510
    for k in ks:
        path = root / blob_key(k)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
    return time.perf_counter() - started


def delete_and_gc(catalog: SqlCatalog, n: int, root: Path, blobs: int) -> dict[str, Any]:
    """Delete a tenth of the inputs; `blobs` of them and as many kept inputs have a blob."""
    ids = [input_id(k) for k in range(5, n, 10)]
    gone = list(range(5, n, 10))[:blobs]
    kept = list(range(6, n, 10))[:blobs]
    made = make_blobs(root, gone + kept)
    started = time.perf_counter()
    outcomes = catalog.inputs.delete_inputs(USER, APP, ids)
    delete_s = time.perf_counter() - started
    if any(o.action != "deleted" for o in outcomes):
        raise SystemExit("delete failed")
    time.sleep(0.05)  # gc keeps blobs younger than its grace period; let the clock move on
    started = time.perf_counter()
    report = collect_garbage(catalog, LocalBlobStore(root), grace=timedelta(0))
    gc_s = time.perf_counter() - started
    if len(report.removed) != len(gone) or report.referenced != len(kept):
        raise SystemExit(f"gc removed {len(report.removed)}, kept {report.referenced}")
    return {
        "deleted": len(ids),
        "delete_s": delete_s,
        "blobs": len(gone) + len(kept),
        "blobs_s": made,
        "removed": len(report.removed),
        "gc_s": gc_s,
    }


def run(catalog: SqlCatalog, n: int, rounds: int, root: Path, blobs: int) -> dict[str, Any]:
    name = catalog.dialect
    setup = populate(catalog, n)
    print(f"{name}: {n:,} inputs and annotations bulk-inserted in {setup:.1f}s", flush=True)
    if name == "postgresql":
        ours, theirs = plan_indexes(catalog)
        print(f"{name}: plan of the catalog's search: {', '.join(ours) or 'no index'}")
        print(f"{name}: plan of the handwritten SQL:  {', '.join(theirs) or 'no index'}")
    hand_s, hand_t, hand_ids = best(lambda: handwritten_search(catalog), rounds)
    ours_s, ours_t, our_ids = best(lambda: ingestd_search(catalog), rounds)
    assert our_ids == hand_ids, (len(our_ids), len(hand_ids))
    ratio = hand_s / ours_s
    print(
        f"{name}: search concept {SEARCH_CONCEPT} + metadata {json.dumps(SEARCH_META)}: "
        f"{len(our_ids):,} matches; handwritten {hand_s * 1000:.0f} ms, ingestd "
        f"{ours_s * 1000:.0f} ms, ratio {ratio:.2f} (goal >= 0.5)  "
        f"(rounds: {', '.join(f'{x * 1000:.0f}' for x in hand_t)} / "
        f"{', '.join(f'{x * 1000:.0f}' for x in ours_t)} ms)",
        flush=True,
    )
    patch_s, patched = patch(catalog, n)
    print(
        f"{name}: metadata merge-patch of {patched:,} inputs: {patch_s:.1f}s, "
        f"{patched / patch_s:,.0f} inputs/s",
        flush=True,
    )
    d = delete_and_gc(catalog, n, root, blobs)
    print(
        f"{name}: delete of {d['deleted']:,} inputs: {d['delete_s']:.1f}s, "
        f"{d['deleted'] / d['delete_s']:,.0f} inputs/s; gc over {d['blobs']:,} blobs "
        f"(made in {d['blobs_s']:.0f}s) removed {d['removed']:,} in {d['gc_s']:.1f}s",
        flush=True,
    )
    return {"ratio": ratio, "patch": patched / patch_s, **d}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=1_000_000, help="inputs in the catalog")
    p.add_argument("--catalogs", nargs="+", default=["sqlite", "postgres"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--blobs",
        type=int,
        default=10_000,
        help="deleted inputs given a blob (as many kept ones get one too); gc asks the "
        "catalog about each blob key, and inputs.blob_key has no index, so each page of "
        "500 keys is a scan of the inputs table",
    )
    args = p.parse_args()
    print(
        f"catalog of {args.size:,} inputs made by the migrations, filled by bulk insert "
        "(executemany on SQLite, COPY on PostgreSQL) with synthetic concepts and metadata"
    )
    cluster = None
    with tempfile.TemporaryDirectory(prefix="ingestd-managebench-") as tmp:
        try:
            for name in args.catalogs:
                if name == "postgres":
                    from tests.support.pg_cluster import PostgresCluster

                    cluster = PostgresCluster().start()
                    url = cluster.create_database("manage_bench")
                else:
                    url = f"sqlite:///{tmp}/manage.db"
                catalog = SqlCatalog(url)
                try:
                    run(catalog, args.size, args.rounds, Path(tmp) / f"blobs-{name}", args.blobs)
                finally:
                    catalog.close()
        finally:
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    from report import peak_memory_line

    main()
    print(peak_memory_line())
