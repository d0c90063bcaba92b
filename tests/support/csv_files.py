"""CSV files on disk for the lister's tests, and what to expect of the items they give."""

from __future__ import annotations

import csv
from pathlib import Path

from connectors.importers.csv_rows import iter_csv_items
from connectors.importers.items import ImportItem
from pipeline.models import Input
from pipeline.status import StatusCode

TEMPLATE = [
    "input.id",
    "input.data.image.url",
    "input.data.text.raw",
    "input.data.concepts[0].id",
    "input.data.concepts[0].value",
    "input.data.concepts[1].id",
    "input.data.concepts[1].value",
    "input.data.metadata",
    "input.data.geo.geo_point.latitude",
    "input.data.geo.geo_point.longitude",
]


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def parse(path: Path, **kwargs) -> dict[str, ImportItem]:
    return {item.key: item for item in iter_csv_items(path, **kwargs)}


def ok(item: ImportItem) -> Input:
    assert item.error is None, item.error
    assert item.input is not None
    return item.input


def raw_text(item: ImportItem) -> str | None:
    text = ok(item).data.text
    assert text is not None
    return text.raw


def failed(item: ImportItem, code: StatusCode) -> str:
    assert item.input is None
    assert item.error is not None and item.error.code is code, item.error
    return item.error.message
