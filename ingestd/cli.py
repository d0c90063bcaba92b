"""The `ingestd` command: a thin layer over pipeline/, streams/ and connectors/."""

from __future__ import annotations

import json
import logging

import typer

from ingestd import __version__, cli_collectors, cli_concepts, cli_keys, cli_produce, cli_workflows
from ingestd.cli_import import app as import_app
from ingestd.cli_inputs import datasets_app, inputs_app
from ingestd.cli_jobs import import_s3, jobs_app
from ingestd.cli_version_tools import app as versions_tools_app
from ingestd.output import console, emit_json, fail, table
from ingestd.state import open_runtime, set_overrides, settings
from pipeline.events import EVENTS, DeadLetter

app = typer.Typer(
    help="ingestd: event-driven ingestion of ML data. Embedded by default (in-process bus, "
    "./.ingestd/blobs, ./.ingestd/catalog.db); INGESTD_BLOBS, INGESTD_CATALOG and "
    "INGESTD_BROKER switch each part to S3, PostgreSQL or Kafka.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)
app.add_typer(import_app, name="import")
import_app.command("s3")(import_s3)
app.add_typer(jobs_app, name="jobs")
app.add_typer(inputs_app, name="inputs")
app.add_typer(datasets_app, name="datasets")
app.add_typer(versions_tools_app, name="versions")
app.add_typer(cli_keys.app, name="keys")
app.add_typer(cli_workflows.app, name="workflows")
app.add_typer(cli_collectors.app, name="collectors")
app.add_typer(cli_concepts.app, name="concepts")
app.add_typer(cli_produce.app, name="produce")
deadletters_app = typer.Typer(help="Events no stage could process.", no_args_is_help=True)
app.add_typer(deadletters_app, name="deadletters")


@app.callback()
def root(
    blobs: str | None = typer.Option(
        None, "--blobs", help="Blob store URL (overrides INGESTD_BLOBS)."
    ),
    catalog: str | None = typer.Option(
        None, "--catalog", help="Catalog URL (overrides INGESTD_CATALOG)."
    ),
    app_id: str | None = typer.Option(None, "--app", help="App id (overrides INGESTD_APP_ID)."),
    user_id: str | None = typer.Option(None, "--user", help="User id (overrides INGESTD_USER_ID)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the stages do."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    set_overrides(blobs=blobs, catalog=catalog, app_id=app_id, user_id=user_id)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def schema(
    event: str | None = typer.Argument(None, help=f"One of {', '.join(EVENTS)}; all when omitted."),
) -> None:
    """Print the JSON Schema of each event, for producers in any language."""
    if event is not None and event not in EVENTS:
        fail(f"unknown event {event!r}; choose one of {', '.join(EVENTS)}")
    chosen = {event: EVENTS[event]} if event else EVENTS
    emit_json({name: model.model_json_schema() for name, model in chosen.items()})


@app.command("settings")
def show_settings(as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the effective settings (secrets masked)."""
    data = settings().redacted()
    if as_json:
        emit_json(data)
        return
    table(
        "settings (INGESTD_*)",
        ["name", "value"],
        [(k, json.dumps(v) if isinstance(v, dict | list) else v) for k, v in data.items()],
    )


@app.command()
def demo(
    workdir: str = typer.Option(
        "demo-out", "--dir", help="Where the demo writes its files and storage."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Make sample data (good and bad), import it on the embedded default and show the result."""
    from ingestd.demo import run_demo

    ok = run_demo(workdir, as_json=as_json)
    if not ok:
        raise typer.Exit(1)


@app.command()
def worker(
    loglevel: str = typer.Option("info", "--loglevel", help="debug, info, warning or error."),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve Prometheus metrics on this port (INGESTD_METRICS_PORT)."
    ),
) -> None:
    """Run the stages as Faust agents on Kafka (INGESTD_BROKER=kafka://host:port)."""
    from ingestd.worker import run_worker

    overrides = {"metrics_port": metrics_port} if metrics_port is not None else {}
    try:
        run_worker(settings().model_copy(update=overrides), loglevel)
    except ValueError as exc:
        fail(str(exc))


@deadletters_app.command("list")
def deadletters_list(as_json: bool = typer.Option(False, "--json")) -> None:
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


def _origin(letter: DeadLetter) -> str:
    """topic/partition@offset on Kafka; a letter a stage records itself has no offset."""
    if letter.origin_partition is None or letter.origin_offset is None:
        return f"{letter.origin_topic} (no offset)"
    return f"{letter.origin_topic}/{letter.origin_partition}@{letter.origin_offset}"


@deadletters_app.command("replay")
def deadletters_replay(
    ids: list[str] | None = typer.Argument(
        None, help="Dead-letter ids; all not yet replayed when omitted."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Re-submit dead-lettered events to the topic they came from (after fixing the cause)."""
    from pydantic import ValidationError

    from streams.topics import EVENT_OF_TOPIC

    replayed: list[str] = []
    refused: list[dict[str, str]] = []
    prefix = settings().topic_prefix
    with open_runtime() as rt:
        letters = rt.catalog.list_dead_letters()
        if ids:
            unknown = set(ids) - {d.dead_letter_id for d in letters}
            if unknown:
                fail(f"no unreplayed dead letter with id {', '.join(sorted(unknown))}")
            letters = [d for d in letters if d.dead_letter_id in ids]
        for letter in letters:
            # Kafka letters name the real topic, INGESTD_TOPIC_PREFIX included.
            model = EVENT_OF_TOPIC.get(letter.origin_topic.removeprefix(prefix))
            try:
                if model is None:
                    raise ValueError(
                        f"no stage reads topic {letter.origin_topic!r} "
                        f"(INGESTD_TOPIC_PREFIX is {prefix!r})"
                    )
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
