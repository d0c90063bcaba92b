"""`ingestd requests ...`: what became of one request of the app, input by input."""

from __future__ import annotations

from collections import Counter
from typing import Any

import typer

from ingestd.cli.options import JsonOpt, console, emit_json, fail, table
from ingestd.cli.state import open_runtime
from pipeline.events import DeadLetter
from pipeline.records import InputOutcome
from pipeline.status import StatusCode

app = typer.Typer(
    help="Requests of the app (--app): the outcome of each input, including inputs refused "
    "for their id, which are stored nowhere else.",
    no_args_is_help=True,
)


@app.command("get")
def get(
    request_id: str,
    as_json: bool = JsonOpt,
) -> None:
    """One request's outcomes; exits 1 when the request is unknown or any input failed."""
    with open_runtime() as rt:
        s = rt.settings
        processed = rt.catalog.processed_request(s.user_id, s.app_id, request_id)
        settled = rt.catalog.settled(s.user_id, s.app_id, [request_id]).get(request_id)
    if processed is None and not isinstance(settled, DeadLetter):
        code = StatusCode.CONN_DOES_NOT_EXIST
        fail(
            f"{code.value} {code.name}: no request {request_id!r} in app {s.user_id}/{s.app_id} "
            "(not processed yet, or sent to another app)"
        )
        return
    out: dict[str, Any] = {"request_id": request_id, "user_id": s.user_id, "app_id": s.app_id}
    outcomes: list[InputOutcome] = []
    if processed is not None:
        outcomes = [InputOutcome.from_dict(d) for d in processed["outcomes"]]
        out.update(
            state="processed",
            stage=processed["stage"],
            processed_at=processed["processed_at"],
            counts=dict(Counter(o.action.value for o in outcomes)),
            outcomes=[o.to_dict() for o in outcomes],
        )
    else:
        assert isinstance(settled, DeadLetter)
        out.update(state="dead_letter", dead_letter=settled.model_dump(mode="json"))
    failed = out["state"] == "dead_letter" or any(not o.ok for o in outcomes)
    if as_json:
        emit_json(out)
    elif processed is None:
        letter = out["dead_letter"]
        console.print(
            f"request {request_id}: [red]dead letter[/] {letter['dead_letter_id']} "
            f"({letter['code']} {StatusCode(letter['code']).name}): {letter['message']}"
        )
    else:
        summary = ", ".join(f"{n} {a}" for a, n in sorted(out["counts"].items()))
        console.print(
            f"request {request_id} ({out['stage']}, {out['processed_at']}): {summary or 'empty'}"
        )
        table(
            "inputs",
            ["#", "requested id", "input id", "action", "status", "message"],
            [
                (
                    o.index,
                    _shown(o.requested_id),
                    _shown(o.input_id),
                    o.action.value,
                    f"{int(o.code)} {o.code.name}",
                    o.message[:100],
                )
                for o in outcomes
            ],
        )
    if failed:
        raise typer.Exit(1)


def _shown(value: str) -> str:
    """Refused ids may hold control characters: print them escaped."""
    return value.encode("unicode_escape").decode("ascii")[:160]
