"""`ingestd deadletters list|replay`: events no stage could process."""

from __future__ import annotations

import typer

from ingestd.cli.options import JsonOpt, console, emit_json, fail, table
from ingestd.cli.state import open_runtime

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
                f"{d.origin_topic}/{d.origin_partition}@{d.origin_offset}",
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
    from pydantic import ValidationError

    from streams.topics import EVENT_OF_TOPIC

    replayed: list[str] = []
    refused: list[dict[str, str]] = []
    with open_runtime() as rt:
        letters = rt.catalog.list_dead_letters()
        if ids:
            unknown = set(ids) - {d.dead_letter_id for d in letters}
            if unknown:
                fail(f"no unreplayed dead letter with id {', '.join(sorted(unknown))}")
            letters = [d for d in letters if d.dead_letter_id in ids]
        for letter in letters:
            model = EVENT_OF_TOPIC.get(letter.origin_topic)
            try:
                if model is None:
                    raise ValueError(f"no stage reads topic {letter.origin_topic!r}")
                event = model.model_validate(letter.event)
            except (ValidationError, ValueError) as exc:
                refused.append({"id": letter.dead_letter_id, "reason": str(exc).splitlines()[0]})
                continue
            rt.publish(event)
            rt.catalog.mark_dead_letter_replayed(letter.dead_letter_id)
            replayed.append(letter.dead_letter_id)
        rt.flush()
    if as_json:
        emit_json({"replayed": replayed, "refused": refused})
    else:
        console.print(f"replayed {len(replayed)} dead letters")
        for r in refused:
            console.print(f"[red]not replayable[/] {r['id']}: {r['reason']}")
    if refused:
        raise typer.Exit(1)
