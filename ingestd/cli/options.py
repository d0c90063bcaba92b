"""What every command shares: the `--json` option, Rich for people and plain JSON for
machines, status-code text, the progress bar and `fail`."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NoReturn, Protocol, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer._click.core import Context
from typer._click.exceptions import ClickException  # Typer vendors its own click

from pipeline.status import StatusCode

T = TypeVar("T")
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)
_json_errors = False  # this invocation asked for --json: errors are JSON objects too
_CODED = re.compile(r"(\d{5}) [A-Z0-9_]+: ")
# user:password@ of a URL quoted in an error (a library's message echoes the URL it was given)
_USERINFO = re.compile(r"(?<=://)[^/@\s\"'<>]*@")
_KNOWN = {int(c) for c in StatusCode}


def json_option(help: str = "Print JSON; errors too are JSON objects.") -> Any:
    return typer.Option(False, "--json", help=help)


JsonOpt = json_option()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=_default) + "\n")


def emit_json_line(data: Any) -> None:
    """One compact JSON object on one line, flushed: a stream a program reads as it comes."""
    sys.stdout.write(json.dumps(data, sort_keys=True, default=_default) + "\n")
    sys.stdout.flush()


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for name in columns:
        t.add_column(name, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


def page_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int
) -> None:
    """A page of a listing in id order (the id first in each row); a full page says how to
    ask for the next."""
    table(title, columns, rows)
    if len(rows) == limit:
        console.print(f"more: --after {rows[-1][0]}")


def failures_table(
    failures: list[dict[str, Any]], title: str = "failed items", column: str = "item"
) -> None:
    """Failed items of an import as a table (the first 20)."""
    table(
        title,
        [column, "code", "message"],
        [(f["item"], f"{f['code']} {f['status']}", f["message"]) for f in failures[:20]],
    )


class Outcome(Protocol):
    """What a bulk change did to one item."""

    @property
    def ok(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


def outcomes_report(
    outcomes: Sequence[Outcome],
    code: StatusCode,
    noun: str,
    verb: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    as_json: bool,
) -> None:
    """A bulk change's outcome per item: `{"status", "<noun>s": [...]}` under --json, else a
    table (and a red line when any failed); exits 1 when any failed."""
    failed = sum(not o.ok for o in outcomes)
    if as_json:
        emit_json(
            {
                "status": {"code": int(code), "description": code.name},
                f"{noun}s": [o.to_dict() for o in outcomes],
            }
        )
    else:
        table(f"{verb}: {len(outcomes) - failed} of {len(outcomes)} {noun}(s)", columns, rows)
        if failed:
            console.print(f"[bold red]{status_text(code)}[/]: {failed} {noun}(s) failed")
    if failed:
        raise typer.Exit(1)


def status_text(code: int) -> str:
    """`10000 SUCCESS`; the bare number for a code ingestd does not know."""
    try:
        return f"{code} {StatusCode(code).name}"
    except ValueError:
        return str(code)


def coded(code: StatusCode, message: str) -> str:
    """An error message led by its status code: `21200 WORKFLOW_DOES_NOT_EXIST: ...`."""
    return f"{code.value} {code.name}: {message}"


def progress_bar(disable: bool) -> Progress:
    """The one progress bar: description, bar, done/total, time; gone when finished."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=disable,
    )


def parse_json_object(text: str | None, option: str) -> dict[str, Any] | None:
    return None if text is None else json_object(text, option)


def json_object(
    text: str, option: str, example: str = '{"key": "value"}', status: StatusCode | None = None
) -> dict[str, Any]:
    """`text` as a JSON object, or `fail` (with `status`) saying what is wrong with `option`."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"{option} is not valid JSON: {exc}", status)
    if not isinstance(value, dict):
        fail(f"{option} must be a JSON object, e.g. '{example}'", status)
    return value


def fail(message: str, status: StatusCode | None = None) -> NoReturn:
    """Print an error a person (or, under --json, a program) can act on and exit non-zero.

    A message led by its code (`coded`) carries that code; others are CONN_INVALID_REQUEST.
    """
    message = _USERINFO.sub("", message)
    if _json_errors:
        emit_error(message, status)
    else:
        lead = f"{status.value} {status.name}: " if status is not None else ""
        errors.print(f"[bold red]error:[/] {lead}{message}")
    raise typer.Exit(1)


def found(value: T | None, missing: str) -> T:
    """`value`, or, when a lookup found nothing (None), `fail` with the message `missing`."""
    if value is None:
        fail(missing)
    return value


def emit_error(message: str, status: StatusCode | None = None) -> None:
    """The one shape of an error under --json, on stdout with the results."""
    found = _CODED.match(message)
    if status is None and found is not None and int(found.group(1)) in _KNOWN:
        status, message = StatusCode(int(found.group(1))), message[found.end() :]
    code = status if status is not None else StatusCode.CONN_INVALID_REQUEST
    emit_json({"status": {"code": int(code), "description": code.name, "details": message}})


class JsonErrorsGroup(typer.core.TyperGroup):
    """The root group: it notes whether this invocation asked for --json, and under --json
    a usage error (unknown option, missing argument, a path that does not exist) is a JSON
    error object like any other."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        global _json_errors
        _json_errors = "--json" in args
        try:
            return super().make_context(info_name, args, parent, **extra)
        except ClickException as exc:
            self._json_usage_error(exc)
            raise

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClickException as exc:
            self._json_usage_error(exc)
            raise

    @staticmethod
    def _json_usage_error(exc: ClickException) -> None:
        if _json_errors:
            emit_error(exc.format_message(), StatusCode.CONN_BAD_REQUEST_FORMAT)
            raise typer.Exit(exc.exit_code) from None
