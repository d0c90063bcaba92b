"""The JSON-lines importer's lister: one input per line, in the UploadRequest input shape.

Each line is an `Input` (pipeline/models.py) as a JSON object: its data, annotations,
dataset ids. Lines are read one at a time with a bounded length; a bad line fails alone
(keyed `file.jsonl:LINE`) and the next line goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from connectors.importers.items import ImportItem, explain
from pipeline.ids import derived_id
from pipeline.models import Input
from pipeline.status import StatusCode

LINE_LIMIT = 64 * 1024 * 1024 + 64 * 1024  # a base64 image over the 20 MB limit still fits
URL_SIZE = 256  # a medium given by URL weighs little in a batch: it is fetched later


def iter_jsonl_items(
    path: Path,
    *,
    metadata: dict[str, Any] | None = None,
    keys: set[str] | None = None,
    line_limit: int = LINE_LIMIT,
) -> Iterator[ImportItem]:
    """One ImportItem per non-blank line; lines without an id get one from their content."""
    with path.open("rb") as fh:
        for number, line in _lines(fh, line_limit):
            key = f"{path.name}:{number}"
            if keys is not None and key not in keys:
                continue
            if line is None:
                yield ImportItem.failed(
                    key,
                    StatusCode.INPUT_OVER_LIMIT,
                    f"line {number} is longer than {line_limit} bytes; give large media by URL",
                )
                continue
            if line.strip():
                yield _item(key, number, line, path.name, metadata)


def count_lines(path: Path) -> int:
    """Lines in the file (the progress bar's total), counted in 1 MB chunks."""
    count, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _lines(fh: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) per line; None for a line over `limit` (the rest is skipped)."""
    number = 0
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while (more := fh.readline(1 << 20)) and not more.endswith(b"\n"):
                pass
            yield number, None
            continue
        yield number, line


def _item(
    key: str, number: int, line: bytes, name: str, metadata: dict[str, Any] | None
) -> ImportItem:
    try:
        value = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return ImportItem.failed(
            key, StatusCode.INPUT_INVALID_REQUEST, f"line {number} is not valid JSON: {exc}"
        )
    if not isinstance(value, dict):
        return ImportItem.failed(
            key,
            StatusCode.INPUT_INVALID_REQUEST,
            f"line {number} must be a JSON object (an input), got {type(value).__name__}",
        )
    try:
        item = Input.model_validate(value)
    except ValidationError as exc:
        return ImportItem.failed(
            key, StatusCode.INPUT_INVALID_ARGUMENT, f"line {number}: {explain(exc)}"
        )
    if item.id is None:
        # From the content, not the line number: the same line moved elsewhere keeps its id.
        item.id = derived_id("jsonl", name, json.dumps(value, sort_keys=True))
    if metadata:
        item.data.metadata = {**metadata, **item.data.metadata}  # the line's keys win (as CSV)
    return ImportItem(key=key, input=item, size=_weight(item, len(line)))


def _weight(item: Input, line_bytes: int) -> int:
    """Bytes the input adds to a request: its line, or little when its medium is a URL."""
    try:
        _kind, source = item.data.media()
    except ValueError:
        return line_bytes  # no single medium: the ingest stage refuses it with its code
    return URL_SIZE if source.url and line_bytes < 64 * 1024 else line_bytes
