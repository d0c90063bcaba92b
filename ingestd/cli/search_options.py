"""The search over inputs on the command line: filter options (`inputs list`) and `--where`
(a search as JSON, for commands that change what a search matches).

Both build one `pipeline.search.InputQuery`; a bad search fails with 40002
SEARCH_INVALID_REQUEST naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from ingestd.cli.options import coded, fail, json_object
from pipeline.errors import InputError
from pipeline.search import InputQuery, parse_query
from pipeline.status import StatusCode

WHERE_HELP = (
    "A search as JSON or a file holding it, e.g. "
    '\'{"concepts": ["cat"], "metadata": {"split": "val"}}\' (fields: docs/search.md).'
)


def _bad(message: str) -> None:
    fail(coded(StatusCode.SEARCH_INVALID_REQUEST, message))


def load_where(text: str, option: str = "--where") -> dict[str, Any]:
    """The JSON object given inline or in a file."""
    raw = text
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            _bad(f"{option} is neither a JSON object nor a file: {text!r}")
        raw = path.read_text(encoding="utf-8")
    return json_object(raw, option, '{"concepts": ["cat"]}', StatusCode.SEARCH_INVALID_REQUEST)


def build_query(fields: dict[str, Any]) -> InputQuery:
    try:
        return parse_query(fields)
    except InputError as exc:
        _bad(exc.message)
        raise


def where_query(text: str | None) -> InputQuery | None:
    """The `--where` search of a bulk change: every match, whatever paging it names."""
    return None if text is None else build_query(load_where(text)).matching()


def _time(text: str | None, option: str) -> str | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        _bad(f"{option} must be an ISO time such as 2024-05-01 or 2024-05-01T12:00:00+02:00")
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


@dataclass
class SearchArgs:
    """The filter options of `inputs list`; the same names as the query's fields."""

    status: list[int] | None = typer.Option(
        None, "--status", help="Status code (repeat for any of several), e.g. 30002."
    )
    media_type: list[str] | None = typer.Option(
        None, "--type", help="image, video, audio or text (repeatable)."
    )
    concept: list[str] | None = typer.Option(
        None, "--concept", help="Has this concept with a value above 0 (repeat: all of them)."
    )
    not_concept: list[str] | None = typer.Option(
        None, "--not-concept", help="Has this concept with value 0 (a negative label)."
    )
    metadata: str | None = typer.Option(
        None, "--metadata", help='Metadata contains this JSON object, e.g. \'{"split": "val"}\'.'
    )
    dataset: str | None = typer.Option(None, "--dataset", "-d", help="In this dataset.")
    source: str | None = typer.Option(None, "--source", help="Source kind: api, folder, csv...")
    run: str | None = typer.Option(None, "--run", help="Made by this import run.")
    job: str | None = typer.Option(None, "--job", help="Made by this extraction job.")
    collector: str | None = typer.Option(None, "--collector", help="Captured by this collector.")
    since: str | None = typer.Option(None, "--since", help="Created at or after (UTC if no zone).")
    until: str | None = typer.Option(None, "--until", help="Created before (UTC if no zone).")
    id_prefix: str | None = typer.Option(None, "--id-prefix", help="Ids starting with this.")
    order: str | None = typer.Option(
        None, "--order", help="id (default), -id, created_at or -created_at (- is newest first)."
    )
    where: str | None = typer.Option(None, "--where", help=WHERE_HELP)

    def fields(self) -> dict[str, Any]:
        """The query's fields given as options (unset ones left out)."""
        meta = None if self.metadata is None else load_where(self.metadata, "--metadata")
        given = {
            "status": self.status,
            "media_type": self.media_type,
            "concepts": self.concept,
            "not_concepts": self.not_concept,
            "metadata": meta,
            "dataset_id": self.dataset,
            "source": self.source,
            "run_id": self.run,
            "job_id": self.job,
            "collector_id": self.collector,
            "created_after": _time(self.since, "--since"),
            "created_before": _time(self.until, "--until"),
            "id_prefix": self.id_prefix,
            "order": self.order,
        }
        return {k: v for k, v in given.items() if v not in (None, [])}

    def query(self, **paging: Any) -> InputQuery:
        """Options and `--where` together (a field given both ways is refused) plus paging."""
        fields = self.fields()
        where = load_where(self.where) if self.where is not None else {}
        twice = sorted(set(fields) & set(where))
        if twice:
            _bad(f"{', '.join(twice)} given both as an option and in --where")
        merged = {**where, **fields}
        for key, value in paging.items():
            if value not in (None, False, ""):
                merged.setdefault(key, value)
        return build_query(merged)
