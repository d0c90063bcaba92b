"""`ingestd deadletters list|replay`: events no stage could process."""

from __future__ import annotations

from typing import Any

import typer
from pydantic import BaseModel, ValidationError

from ingestd.cli.options import JsonOpt, console, emit_json, fail, table
from ingestd.cli.state import open_runtime
from pipeline.events import DeadLetter
from pipeline.records import InputOutcome
from pipeline.topics import topic_named

app = typer.Typer(help="Events no stage could process.", no_args_is_help=True)


@app.command("list")
def deadletters_list(as_json: bool = JsonOpt) -> None:
    """Dead letters recorded by the embedded bus."""
    with open_runtime() as rt:
        letters = rt.catalog.list_dead_letters()
    if as_json:
        emit_json([d.model_dump(mode="json") for d in letters])
        return
    table(
        "dead letters",
        ["id", "stage", "code", "attempts", "origin", "message"],
        [
            (
                d.dead_letter_id,
                d.stage,
                f"{int(d.code)} {d.code.name}",
                d.attempts,
                _origin(d),
                d.message[:80],
            )
            for d in letters
        ],
    )


@app.command("replay")
def deadletters_replay(
    ids: list[str] | None = typer.Argument(
        None, help="Dead-letter ids; all not yet replayed when omitted."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Re-submit dead-lettered events to the topic they came from (after fixing the cause)."""
    replayed: list[dict[str, Any]] = []
    tenants: list[tuple[str, str]] = []
    refused: list[dict[str, str]] = []
    with open_runtime() as rt:
        letters = rt.catalog.list_dead_letters()
        if ids:
            unknown = set(ids) - {d.dead_letter_id for d in letters}
            if unknown:
                fail(f"no unreplayed dead letter with id {', '.join(sorted(unknown))}")
            letters = [d for d in letters if d.dead_letter_id in ids]
        for letter in letters:
            try:
                event = _event_of(letter, rt.settings.topic_prefix)
            except (ValidationError, ValueError) as exc:
                refused.append({"id": letter.dead_letter_id, "reason": str(exc).splitlines()[0]})
                continue
            rt.publish(event)
            rt.catalog.mark_dead_letter_replayed(letter.dead_letter_id)
            tenant = (
                getattr(event, "user_id", rt.settings.user_id),
                getattr(event, "app_id", rt.settings.app_id),
            )
            replayed.append({"id": letter.dead_letter_id, "event_id": letter.event_id})
            tenants.append(tenant)
        rt.flush()
        if not rt.kafka_mode:  # the stages run here: wait for them and say how each went
            rt.bus.join()
            for r, (user_id, app_id) in zip(replayed, tenants, strict=True):
                done = rt.catalog.settled(user_id, app_id, [r["event_id"]]) if r["event_id"] else {}
                r.update(_outcome(done.get(r["event_id"] or "")))
        else:
            for r in replayed:
                r["outcome"] = "sent"  # the workers process it; `deadletters list` shows failures
    failed = [r for r in replayed if r["outcome"] == "failed again"]
    if as_json:
        emit_json({"replayed": replayed, "refused": refused})
    else:
        console.print(f"replayed {len(replayed)} dead letters, {len(failed)} failed again")
        for r in failed:
            console.print(f"[red]failed again[/] {r['id']}: {r['code']} {r['message']}")
            console.print(f"  now dead letter {r['dead_letter_id']}")
        for f in refused:
            console.print(f"[red]not replayable[/] {f['id']}: {f['reason']}")
    if refused or failed:
        raise typer.Exit(1)


def _origin(letter: DeadLetter) -> str:
    """topic/partition@offset on Kafka; a letter a stage records itself has no offset."""
    if letter.origin_partition is None or letter.origin_offset is None:
        return f"{letter.origin_topic} (no offset)"
    return f"{letter.origin_topic}/{letter.origin_partition}@{letter.origin_offset}"


def _event_of(letter: DeadLetter, prefix: str) -> BaseModel:
    """The letter's event, parsed as the event of its topic (Kafka letters name the real,
    prefixed topic)."""
    topic = topic_named(letter.origin_topic.removeprefix(prefix))
    if topic is None or topic.stage is None:
        raise ValueError(
            f"no stage reads topic {letter.origin_topic!r} (INGESTD_TOPIC_PREFIX is {prefix!r})"
        )
    return topic.event.model_validate(letter.event)


def _outcome(settled: list[InputOutcome] | DeadLetter | None) -> dict[str, Any]:
    if isinstance(settled, DeadLetter):
        return {
            "outcome": "failed again",
            "dead_letter_id": settled.dead_letter_id,
            "code": int(settled.code),
            "message": settled.message,
        }
    return {"outcome": "processed" if settled is not None else "not settled"}
