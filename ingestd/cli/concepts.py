"""`ingestd concepts ...`: the app's knowledge graph (concept relations) for the synonym mapper."""

from __future__ import annotations

import typer

from ingestd.cli.options import JsonOpt, console, emit_json, fail, table
from ingestd.cli.state import open_runtime
from pipeline.errors import InputError
from pipeline.knowledge import Relation, check_relation

app = typer.Typer(
    help="Relations between the app's concepts (synonym, hypernym, hyponym), followed by the "
    "concept-synonym-mapper operator. `relate animal cat --type hypernym`: animal is more "
    "general than cat.",
    no_args_is_help=True,
)
TypeOpt = typer.Option(
    Relation.SYNONYM.value,
    "--type",
    "-t",
    help="synonym, hypernym (SUBJECT is more general) or hyponym.",
)


@app.command("relate")
def relate(
    subject: str, obj: str = typer.Argument(..., metavar="OBJECT"), predicate: str = TypeOpt
) -> None:
    """Add a relation SUBJECT --type--> OBJECT."""
    try:
        s_, p, o = check_relation(subject, predicate, obj)
    except InputError as exc:
        fail(str(exc))
        return
    with open_runtime() as rt:
        added = rt.catalog.knowledge.add(rt.settings.user_id, rt.settings.app_id, s_, p.value, o)
    console.print(f"{'added' if added else 'already there'}: {s_} {p.value} {o}")


@app.command("relations")
def relations(as_json: bool = JsonOpt) -> None:
    """The app's concept relations."""
    with open_runtime() as rt:
        rows = rt.catalog.knowledge.relations(rt.settings.user_id, rt.settings.app_id)
    if as_json:
        emit_json([{"subject": s, "predicate": p, "object": o} for s, p, o in rows])
        return
    table("concept relations", ["subject", "relation", "object"], rows)


@app.command("unrelate")
def unrelate(
    subject: str, obj: str = typer.Argument(..., metavar="OBJECT"), predicate: str = TypeOpt
) -> None:
    """Remove a relation."""
    try:
        s_, p, o = check_relation(subject, predicate, obj)
    except InputError as exc:
        fail(str(exc))
        return
    with open_runtime() as rt:
        removed = rt.catalog.knowledge.remove(
            rt.settings.user_id, rt.settings.app_id, s_, p.value, o
        )
    if not removed:
        fail(f"no relation {s_} {p.value} {o} in this app")
    console.print(f"removed: {s_} {p.value} {o}")
