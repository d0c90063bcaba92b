"""The collect stage versus only parsing the same prediction events, on one core.

    .venv/bin/python bench/collect_bench.py [--events 20000] [--rounds 5] [--keep 0.5,0.1]

Each event is a JSON PredictionEvent as a service would produce it (an image URL and ten
concept predictions). The baseline parses and validates every event; the measured side
parses it and runs the real embedded collect stage on it: collector matching, a pre-queue
workflow of random-sample (each --keep fraction) then concept-thresholder (cat > 0.8), and
an UploadRequest for each capture. Collectors live in a real SQLite catalog. The two
sides alternate every 500 events, so load from other processes hits both alike.

Times are CPU time of the benchmark's thread. Prints events/s of both, the collect stage's
own rate, and the ratio parse / (parse + collect) (goal >= 0.66: filtering costs less than
half of parsing; and >= 20,000 events/s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingestd.app.runtime import Runtime  # noqa: E402
from ingestd.app.settings import Settings  # noqa: E402
from pipeline.collect.collectors import parse_collector  # noqa: E402
from pipeline.collect.workflows.graph import parse_workflow  # noqa: E402
from pipeline.events import PredictionEvent  # noqa: E402
from pipeline.keys import Scope, new_key  # noqa: E402

MODEL = {"user_id": "clarifai", "app_id": "main", "model_id": "general", "version_id": "v1"}
LABELS = ["cat", "dog", "sofa", "lamp", "tree", "car", "person", "bird", "cup", "book"]


def make_events(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        concepts = [{"id": c, "value": round(rng.random(), 4)} for c in LABELS]
        event = {
            "event_id": f"ev-{i:08d}",
            "time": "2026-11-22T12:00:00Z",
            "caller_user_id": f"svc-{i % 4}",
            "model": MODEL,
            "input_type": "image",
            "input": {"url": f"https://images.example.com/{i:08d}.jpg"},
            "outputs": {"concepts": concepts},
            "metadata": {"camera": i % 16},
        }
        out.append(json.dumps(event).encode())
    return out


def setup(rt: Runtime, keep: float) -> None:
    user, app = rt.settings.user_id, rt.settings.app_id
    key, _ = new_key(user, app, [Scope.POST_INPUTS])
    rt.catalog.keys.add(key)
    spec = parse_workflow(
        {
            "id": "sample-cats",
            "nodes": [
                {"id": "sample", "operator": "random-sample", "params": {"keep_fraction": keep}},
                {
                    "id": "cats",
                    "operator": "concept-thresholder",
                    "inputs": ["sample"],
                    "params": {"concepts": {"cat": 0.8}, "concept_threshold_type": ">"},
                },
            ],
        }
    )
    rt.catalog.workflows.save(user, app, spec, replace=True)
    source = {
        "model_user_id": MODEL["user_id"],
        "model_app_id": MODEL["app_id"],
        "model_id": MODEL["model_id"],
        "model_version_id": MODEL["version_id"],
        "post_inputs_key_id": key.id,
    }
    collector = parse_collector(
        {
            "id": "bench",
            "pre_queue_workflow_id": "sample-cats",
            "collector_source": {"api_post_model_outputs_collector_source": source},
        }
    )
    rt.catalog.collectors.create(user, app, collector)
    rt.collect.refresh_s = 3600.0  # the stage reloads every few seconds; not inside the timing
    rt.collect.refresh()


# CPU time of this thread, not wall time: on a shared machine, other processes' load
# would otherwise land on whichever side happened to be running.
clock = time.thread_time


def parse_only(raws: list[bytes]) -> float:
    start = clock()
    for raw in raws:
        PredictionEvent.model_validate_json(raw)
    return clock() - start


def parse_and_collect(raws: list[bytes], rt: Runtime) -> tuple[float, int]:
    handle = rt.collect.handle
    captured = 0
    start = clock()
    for raw in raws:
        captured += len(handle(PredictionEvent.model_validate_json(raw)).follow_ups)
    return clock() - start, captured


def one_round(raws: list[bytes], rt: Runtime, chunk: int) -> tuple[float, float, int]:
    """Both sides over the same events, alternating every `chunk` events."""
    base = total = 0.0
    captured = 0
    for start in range(0, len(raws), chunk):
        part = raws[start : start + chunk]
        base += parse_only(part)
        t, c = parse_and_collect(part, rt)
        total, captured = total + t, captured + c
    return base, total, captured


def measure(raws: list[bytes], keep: float, rounds: int, chunk: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(catalog=f"sqlite:///{tmp}/catalog.db", blobs=f"file://{tmp}/blobs")
        with Runtime.open(settings) as rt:
            setup(rt, keep)
            parse_only(raws[:1000])  # warm up both paths
            parse_and_collect(raws[:1000], rt)
            results = [one_round(raws, rt, chunk) for _ in range(rounds)]
    # The round with the best (lowest) parse + collect time, and the median ratio.
    base, total, captured = min(results, key=lambda r: r[1])
    stage = total - base
    ratios = sorted(r[0] / r[1] for r in results)
    n = len(raws)
    print(f"keep_fraction {keep}: {n} events, {captured} captured ({captured / n:.1%})")
    print(f"  parse + validate only : {n / base:10,.0f} events/s")
    print(f"  parse + collect stage : {n / total:10,.0f} events/s")
    print(f"  collect stage alone   : {n / stage:10,.0f} events/s  (difference; goal >= 20,000)")
    print(
        f"  ratio parse/(parse+collect): {ratios[len(ratios) // 2]:.2f}, median of "
        f"{len(ratios)} rounds ({', '.join(f'{r:.2f}' for r in ratios)})  (goal >= 0.66)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--keep", default="0.5,0.1", help="random-sample keep_fractions to measure, comma-separated"
    )
    parser.add_argument("--chunk", type=int, default=500, help="events per alternation")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    raws = make_events(args.events)
    for keep in (float(k) for k in args.keep.split(",")):
        measure(raws, keep, args.rounds, args.chunk)


if __name__ == "__main__":
    from report import peak_memory_line

    main()
    print(peak_memory_line())
