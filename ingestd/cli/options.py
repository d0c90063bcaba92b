"""What every command shares: the `--json` option, Rich for people and plain JSON for
machines, status-code text, the progress bar and `fail`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.status import StatusCode

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def json_option(help: str | None = "Print JSON.") -> Any:
    return typer.Option(False, "--json", help=help)


JsonOpt = json_option()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=_default) + "\n")


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for name in columns:
        t.add_column(name, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


def failures_table(
    failures: list[dict[str, Any]], title: str = "failed items", column: str = "item"
) -> None:
    """Failed items of an import as a table (the first 20)."""
    table(
        title,
        [column, "code", "message"],
        [(f["item"], f"{f['code']} {f['status']}", f["message"]) for f in failures[:20]],
    )


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
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"{option} is not valid JSON: {exc}")
    if not isinstance(value, dict):
        fail(f'{option} must be a JSON object, e.g. \'{{"key": "value"}}\'')
    return value


def fail(message: str, code: int = 1) -> None:
    """Print an error a person can act on and exit non-zero."""
    errors.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)
