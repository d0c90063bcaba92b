"""`ingestd produce predictions FILE.jsonl`: report prediction events, as a service would."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from ingestd.app.runtime import Runtime
from ingestd.cli.options import JsonOpt, console, emit_json, errors, progress_bar, table
from ingestd.cli.state import open_runtime
from pipeline.collect.stage import FAILED, CollectResult
from pipeline.events import PredictionEvent
from pipeline.status import StatusCode

app = typer.Typer(
    help="Put events on ingestd's topics from files, as services do with the producer client.",
    no_args_is_help=True,
)
MAX_LINE = 1_000_000


def read_events(path: Path) -> tuple[list[PredictionEvent], list[dict[str, Any]]]:
    """Valid events, and the lines that are not (line number, status code, message)."""
    events: list[PredictionEvent] = []
    bad: list[dict[str, Any]] = []
    code = StatusCode.CONN_BAD_REQUEST_FORMAT
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            if len(line) > MAX_LINE:
                bad.append(_bad(number, code, f"line longer than {MAX_LINE} characters"))
                continue
            try:
                events.append(PredictionEvent.model_validate_json(line))
            except ValidationError as exc:
                e = exc.errors()[0]
                where = ".".join(str(p) for p in e["loc"]) or "line"
                bad.append(_bad(number, code, f"not a PredictionEvent: {where}: {e['msg']}"))
    return events, bad


def _bad(line: int, code: StatusCode, message: str) -> dict[str, Any]:
    return {"line": line, "code": int(code), "status": code.name, "message": message}


@app.command("predictions")
def predictions(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="JSON lines of PredictionEvents."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Send prediction events (one JSON object per line) to the collect stage.

    On the embedded default the command waits for the collectors and prints what each
    event became (captured, dropped, skipped, failed) and how the captures were stored; on
    Kafka it reports what was sent.
    """
    events, bad = read_events(file)
    for b in bad:
        errors.print(f"line {b['line']}: {b['code']} {b['status']}: {b['message']}")
    results: list[CollectResult] = []
    settled: dict[str, Any] = {}
    earlier: set[str] = set()  # captures an earlier run stored: their requests are skipped
    with open_runtime() as rt:
        embedded = not rt.kafka_mode
        if embedded:

            def observe(result: CollectResult) -> None:
                # Called before the capture's upload is sent: what is settled now, an
                # earlier run settled, and the ingest stage will skip it as a duplicate.
                done = _settled(rt, [result])
                earlier.update(i for i, v in done.items() if isinstance(v, list))
                results.append(result)

            rt.collect.observe(observe)
        with progress_bar(disable=as_json) as progress:
            task = progress.add_task("sending predictions", total=len(events))
            for event in events:
                rt.publish(event)
                progress.advance(task)
        rt.flush()
        if embedded:
            for _ in range(3):  # predictions, then the uploads they produced
                rt.bus.join()
            settled.update(_settled(rt, results))
    actions = Counter(o.action for r in results for o in r.outcomes)
    codes = Counter(f"{int(o.code)} {o.code.name}" for r in results for o in r.outcomes)
    stored: Counter[str] = Counter()
    for request_id, value in settled.items():
        if request_id in earlier:
            stored["unchanged"] += len(value) if isinstance(value, list) else 1
        elif isinstance(value, list):
            stored.update(o.action.value for o in value)
        else:
            stored["dead letter"] += 1
    failures = [
        {
            "event_id": r.event_id,
            "collector": o.collector,
            "code": int(o.code),
            "message": o.message,
        }
        for r in results
        for o in r.outcomes
        if o.action == FAILED
    ]
    summary = {
        "events": len(events),
        "bad_lines": bad,
        "embedded": embedded,
        "outcomes": dict(actions),
        "codes": dict(codes),
        "captures_stored": dict(stored),
        "failures": failures,
    }
    if as_json:
        emit_json(summary)
    else:
        console.print(f"sent {len(events)} prediction event(s); {len(bad)} bad line(s)")
        if embedded:
            table("collect outcomes", ["outcome", "count"], sorted(actions.items()))
            console.print(f"captured inputs stored: {dict(stored) or 'none'}")
            for f in failures:
                console.print(f"  {f['event_id']} {f['collector']}: {f['code']} {f['message']}")
    if bad or failures or stored["dead letter"] or stored["failed"]:
        raise typer.Exit(1)


def _settled(rt: Runtime, results: list[CollectResult]) -> dict[str, Any]:
    """What became of the captures' upload requests, asked of each destination app."""
    by_app: dict[tuple[str, str], list[str]] = {}
    for o in (o for r in results for o in r.outcomes):
        if o.request_id:
            user_id, app_id, _ = o.collector.split("/", 2)  # keys: user/app/collector
            by_app.setdefault((user_id, app_id), []).append(o.request_id)
    settled: dict[str, Any] = {}
    for (user_id, app_id), request_ids in by_app.items():
        settled.update(rt.catalog.settled(user_id, app_id, request_ids))
    return settled
