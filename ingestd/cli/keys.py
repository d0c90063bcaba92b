"""`ingestd keys ...`: API keys of the app; the secret is shown once and stored hashed."""

from __future__ import annotations

import typer

from ingestd.cli.options import JsonOpt, coded, console, emit_json, fail, table
from ingestd.cli.state import open_runtime
from pipeline.errors import InputError
from pipeline.keys import Scope, new_key, parse_scopes
from pipeline.status import StatusCode

app = typer.Typer(
    help="API keys of the app (--app). Collectors post captured inputs with a key that has "
    "the PostInputs scope. A key's secret is printed once, at creation, and stored only as a "
    "salted scrypt hash.",
    no_args_is_help=True,
)


@app.command("create")
def create(
    scopes: list[str] = typer.Option(
        ...,
        "--scopes",
        "-s",
        help=f"Scopes, repeatable or comma-separated: {', '.join(s.value for s in Scope)}.",
    ),
    description: str = typer.Option("", "--description", help="What the key is for."),
    as_json: bool = JsonOpt,
) -> None:
    """Create a key for the app and print its secret (the only time it is shown)."""
    try:
        chosen = parse_scopes(scopes)
    except InputError as exc:
        fail(str(exc))
        return
    with open_runtime() as rt:
        s = rt.settings
        key, secret = new_key(s.user_id, s.app_id, chosen, description)
        rt.catalog.keys.add(key)
    if as_json:
        emit_json({**key.public(), "secret": secret})
        return
    console.print(f"created key [bold]{key.id}[/] for {key.user_id}/{key.app_id}")
    console.print(f"scopes: {', '.join(key.scopes)}")
    console.print(f"secret: [bold]{secret}[/]")
    console.print("store the secret now: only its hash is kept, it cannot be shown again.")


@app.command("list")
def list_keys(as_json: bool = JsonOpt) -> None:
    """The app's keys (ids and scopes; never secrets)."""
    with open_runtime() as rt:
        keys = rt.catalog.keys.for_app(rt.settings.user_id, rt.settings.app_id)
    if as_json:
        emit_json([k.public() for k in keys])
        return
    table(
        "API keys",
        ["id", "scopes", "description", "created"],
        [(k.id, ",".join(k.scopes), k.description, k.created_at) for k in keys],
    )


@app.command("get")
def get(key_id: str, as_json: bool = JsonOpt) -> None:
    """One key of the app."""
    with open_runtime() as rt:
        key = rt.catalog.keys.get(key_id)
        s = rt.settings
    if key is None or (key.user_id, key.app_id) != (s.user_id, s.app_id):
        _no_key(key_id, s.user_id, s.app_id)
        return
    if as_json:
        emit_json(key.public())
        return
    for name, value in key.public().items():
        console.print(f"[bold]{name}[/]: {value}")


@app.command("delete")
def delete(
    key_id: str,
    force: bool = typer.Option(False, "--force", help="Delete even if collectors use it."),
    as_json: bool = JsonOpt,
) -> None:
    """Delete a key; refused while a collector posts inputs with it (unless --force)."""
    with open_runtime() as rt:
        s = rt.settings
        keys = rt.catalog.keys
        users = keys.users_of(s.user_id, s.app_id, key_id)
        if users and not force:
            fail(
                f"key {key_id!r} is the post-inputs key of collector(s) {', '.join(users)}; "
                "give them another key first, or use --force (they will stop capturing)"
            )
            return
        deleted = keys.delete(s.user_id, s.app_id, key_id)
    if as_json:
        emit_json({"id": key_id, "deleted": deleted})
    if not deleted:
        _no_key(key_id, s.user_id, s.app_id)
    if not as_json:
        console.print(f"deleted key {key_id}")


def _no_key(key_id: str, user_id: str, app_id: str) -> None:
    fail(coded(StatusCode.CONN_KEY_NOT_FOUND, f"no key {key_id!r} in app {user_id}/{app_id}"))
