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


def _relation_command(name: str, add: bool, doc: str) -> None:
    """`relate` and `unrelate`: the same arguments, adding or removing the relation."""

    def command(
        subject: str,
        obj: str = typer.Argument(..., metavar="OBJECT"),
        predicate: str = TypeOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        _change(subject, predicate, obj, add=add, as_json=as_json)

    command.__doc__ = doc
    app.command(name)(command)


_relation_command("relate", True, "Add a relation SUBJECT --type--> OBJECT.")


@app.command("relations")
def relations(as_json: bool = JsonOpt) -> None:
    """The app's concept relations."""
    with open_runtime() as rt:
        rows = rt.catalog.knowledge.relations(rt.settings.user_id, rt.settings.app_id)
    if as_json:
        emit_json([{"subject": s, "predicate": p, "object": o} for s, p, o in rows])
        return
    table("concept relations", ["subject", "relation", "object"], rows)


_relation_command("unrelate", False, "Remove a relation.")


def _change(subject: str, predicate: str, obj: str, add: bool, as_json: bool) -> None:
    try:
        s_, p, o = check_relation(subject, predicate, obj)
    except InputError as exc:
        fail(str(exc))
        return
    with open_runtime() as rt:
        knowledge = rt.catalog.knowledge
        change = knowledge.add if add else knowledge.remove
        changed = change(rt.settings.user_id, rt.settings.app_id, s_, p.value, o)
    if not add and not changed:
        fail(f"no relation {s_} {p.value} {o} in this app")
    relation = {"subject": s_, "predicate": p.value, "object": o}
    if as_json:
        emit_json({**relation, "added" if add else "removed": changed})
    elif add:
        console.print(f"{'added' if changed else 'already there'}: {s_} {p.value} {o}")
    else:
        console.print(f"removed: {s_} {p.value} {o}")
