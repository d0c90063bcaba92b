"""The CSV importer's lister: one input per row of a CSV or TSV file, streamed row by row.

Two layouts, told apart by the header: the platform template of
../shared/reference/csv-import.md (`input.data.image.url`, `input.data.concepts[0].id`, ...)
and the short `inputid,input,concepts,metadata,geopoints`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from connectors.importers.files import EXTENSION_TYPES, local_file_data
from connectors.importers.items import ImportItem, item_or_failure
from connectors.importers.local_paths import LocalPathRefused
from connectors.importers.staging import FileStager
from pipeline.errors import InputError
from pipeline.ids import check_id, derived_id
from pipeline.models import Concept, Data, Geo, GeoPoint, Input, Media, MediaType, Text
from pipeline.status import StatusCode

URL_SIZE = 256  # a URL weighs little in a batch: its bytes are fetched later
FIELD_LIMIT = 64 * 1024 * 1024  # csv's default 128 KiB is smaller than a base64 image
LINE_LIMIT = FIELD_LIMIT + 64 * 1024  # one line: one such field and some small ones
MAX_CONCEPTS = 1000  # concept id/value column pairs a template header may have
HEADER_LIMIT = 128 * 1024  # characters: the widest template header fits several times
SIMPLE_COLUMNS = ("inputid", "input", "concepts", "metadata", "geopoints")
LAT, LON = "input.data.geo.geo_point.latitude", "input.data.geo.geo_point.longitude"
TEMPLATE_DATA = {  # column -> (medium, field)
    "input.data.image.url": ("image", "url"),
    "input.data.image.base64": ("image", "base64"),
    "input.data.video.url": ("video", "url"),
    "input.data.audio.url": ("audio", "url"),
    "input.data.text.raw": ("text", "raw"),
}
_LOCATION_COLUMNS = ("input", *(c for c, (_, field) in TEMPLATE_DATA.items() if field == "url"))
TEMPLATE_COLUMNS = ("input.id", *TEMPLATE_DATA, "input.data.metadata", LAT, LON)
MAX_COLUMNS = len(TEMPLATE_COLUMNS) + 2 * MAX_CONCEPTS
_CONCEPT = re.compile(r"input\.data\.concepts\[(\d+)\]\.(id|value)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
BAD_ARG, BAD_REQUEST = StatusCode.INPUT_INVALID_ARGUMENT, StatusCode.INPUT_INVALID_REQUEST
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes surrogateescape could not decode
_NOT_UTF8 = "is not UTF-8 text: save the file as UTF-8 (in Excel: CSV UTF-8) and retry"


class CsvHeaderError(InputError, ValueError):
    """The header is unusable (39999): no row of the file is read."""

    def __init__(self, message: str) -> None:
        super().__init__(BAD_REQUEST, message)


@dataclass(frozen=True)
class _Files:
    """Where local files named in the input column are read from, and how."""

    start: Path  # relative names start here (the CSV's folder)
    bound: Path  # and must end under here
    input_type: str
    stager: FileStager | None


@dataclass(frozen=True)
class _Layout:
    header: list[str]
    simple: bool
    concepts: list[tuple[str, str | None]]  # template: (id column, value column or None)


def iter_csv_items(
    path: Path,
    *,
    input_type: str = "auto",
    metadata: dict[str, Any] | None = None,
    keys: set[str] | None = None,
    base_dir: Path | None = None,
    stager: FileStager | None = None,
) -> Iterator[ImportItem]:
    """One ImportItem per data row, keyed `name.csv:line`; a bad header raises CsvHeaderError.

    Local files named in the simple layout are relative to the CSV's folder and are read
    only from under `base_dir` (default: the CSV's folder); with a `stager`, large ones go
    to the blob store in pieces and the item names the blob.
    """
    if input_type != "auto" and input_type not in {t.value for t in MediaType}:
        raise ValueError(f"input type must be auto, image, video, audio or text: {input_type!r}")
    csv.field_size_limit(FIELD_LIMIT)  # process-wide: set, not raised to a maximum
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    base_dir = base_dir if base_dir is not None else path.parent
    # surrogateescape: a byte that is not UTF-8 fails its own row (below), not the whole file
    # (strict decoding fails the chunk it is in, before the parser even sees the header).
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        lines = _BoundedLines(fh, path.name)
        reader = csv.reader(lines, dialect=dialect)
        try:
            header = next(reader)
            if _UNDECODED.search("".join(header)):
                raise CsvHeaderError(f"{path.name}: the header {_NOT_UTF8}")
            layout = _layout(path.name, [h.strip() for h in header])
        except StopIteration:
            raise CsvHeaderError(f"{path.name} is empty: it needs a header row") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CsvHeaderError(
                f"{path.name}: cannot read the header (not UTF-8?): {exc}"
            ) from None
        lines.header_done()
        end = reader.line_num
        while True:
            start = end + 1  # the line a multi-line row starts on, as an editor shows it
            key = f"{path.name}:{start}"
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                # The parser cannot resynchronise after this: stop rather than invent rows.
                yield ImportItem.failed(
                    key,
                    BAD_REQUEST,
                    (
                        f"cannot read at or after line {start}: {exc}; the rest of the file was "
                        "not read (an unclosed quote, or not UTF-8 text?)"
                    ),
                )
                return
            end = reader.line_num
            if (keys is not None and key not in keys) or not any(c.strip() for c in cells):
                continue
            if bad := next((c for c in cells if _UNDECODED.search(c)), None):
                shown = _show(bad.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
                yield ImportItem.failed(key, BAD_REQUEST, f"the cell {shown} {_NOT_UTF8}")
                continue
            files = _Files(path.parent, base_dir, input_type, stager)
            item = _row_item(path, layout, cells, key, files, metadata or {})
            item.source_uri = _source_uri(item, layout, cells, path, start)
            yield item


class _BoundedLines:
    """The file's lines for csv.reader, each bounded: the header tightly, rows loosely.

    csv.reader holds a whole line in memory and the header is parsed at once, so a line
    of a million columns must be refused before it is read whole.
    """

    def __init__(self, fh: Any, name: str) -> None:
        self.fh, self.name = fh, name
        self.header_left: int | None = HEADER_LIMIT

    def header_done(self) -> None:
        self.header_left = None

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        limit = LINE_LIMIT if self.header_left is None else self.header_left
        line = self.fh.readline(limit + 1)
        if not line:
            raise StopIteration
        if len(line) > limit:
            if self.header_left is not None:
                raise CsvHeaderError(
                    f"{self.name}: the header is longer than {HEADER_LIMIT} characters; no "
                    f"template has that many columns (at most {MAX_COLUMNS})"
                )
            raise csv.Error(f"a line longer than {LINE_LIMIT} characters")
        if self.header_left is not None:
            self.header_left -= len(line)
        return str(line)


def _layout(name: str, header: list[str]) -> _Layout:
    if len(header) > MAX_COLUMNS:
        raise CsvHeaderError(
            f"{name}: the header has {len(header)} columns; the widest layout has "
            f"{MAX_COLUMNS} (the template's {len(TEMPLATE_COLUMNS)} and {MAX_CONCEPTS} concept "
            "id/value pairs). Is the header row really a header, with the right separator?"
        )
    dupes = sorted(h for h, n in Counter(header).items() if n > 1)
    if dupes:
        raise CsvHeaderError(f"{name}: the header repeats column(s) {', '.join(dupes[:10])}")
    if "input" in header and set(header) <= set(SIMPLE_COLUMNS):
        return _Layout(header, True, [])
    unknown = [h for h in header if h not in TEMPLATE_COLUMNS and not _CONCEPT.fullmatch(h)]
    if unknown or not any(h in TEMPLATE_DATA for h in header):
        if not any(h.startswith("input.") for h in header):
            unknown = [h for h in header if h not in SIMPLE_COLUMNS]
        shown = ", ".join(map(repr, unknown[:10])) + (", ..." if len(unknown) > 10 else "")
        what = f"unknown column(s) {shown}" if unknown else "no data column"
        raise CsvHeaderError(
            f"{name}: the header matches neither CSV layout ({what}). Use the platform template: "
            f"{', '.join(TEMPLATE_COLUMNS)}, input.data.concepts[i].id, "
            "input.data.concepts[i].value (one data column needed, the rest optional); or the "
            f"simple layout: {','.join(SIMPLE_COLUMNS)} (only input needed)."
        )
    found = {m.groups(): h for h in header if (m := _CONCEPT.fullmatch(h))}
    orphans = [h for (i, part), h in found.items() if part == "value" and (i, "id") not in found]
    if orphans or (LAT in header) != (LON in header):
        lonely = orphans or [h for h in (LAT, LON) if h in header]
        raise CsvHeaderError(
            f"{name}: the header lacks the column paired with {', '.join(lonely[:10])}"
        )
    ids = sorted((int(i), i, h) for (i, part), h in found.items() if part == "id")
    return _Layout(header, False, [(h, found.get((i, "value"))) for _, i, h in ids])


def _row_item(
    path: Path,
    layout: _Layout,
    cells: list[str],
    key: str,
    files: _Files,
    metadata: dict[str, Any],
) -> ImportItem:
    if len(cells) != len(layout.header):
        return ImportItem.failed(
            key,
            BAD_REQUEST,
            (
                f"the row has {len(cells)} cells but the header has {len(layout.header)} columns "
                "(a stray separator, or a cell holding a separator or quote without quotes?)"
            ),
            derived_id("csv", path.name, _canonical(cells)),
        )
    row = dict(zip(layout.header, cells, strict=True))
    # Filled cells by column name: stable across reruns, inserted rows and column order.
    input_id = derived_id("csv", path.name, _canonical({k: v for k, v in row.items() if v}))
    id_column = "inputid" if layout.simple else "input.id"
    if given := row.get(id_column, "").strip():
        try:
            input_id = check_id(given)
        except InputError as exc:
            return ImportItem.failed(key, exc.code, f"column {id_column}: {exc.message}")

    def build() -> ImportItem:
        if layout.simple:
            data, size = _simple_data(row, files)
        else:
            data, size = _template_data(row, layout)
        data.metadata = {**metadata, **data.metadata}
        return ImportItem(key=key, input=Input(id=input_id, data=data), size=size)

    return item_or_failure(key, input_id, build)


def _source_uri(item: ImportItem, layout: _Layout, cells: list[str], path: Path, line: int) -> str:
    """Where the row's input came from: its URL, the file it names, else the CSV's line."""
    row = dict(zip(layout.header, cells, strict=False))
    value = next((v for c in _LOCATION_COLUMNS if (v := row.get(c, "").strip())), "")
    if _SCHEME.match(value):
        return value  # the stage stores it without credentials (ingest.inputs.stored_url)
    medium = item.input.data.media()[1] if item.input is not None else None
    if layout.simple and medium is not None and not (isinstance(medium, Text) and medium.raw):
        return os.path.normpath(path.parent.absolute() / value)  # the file it read
    return f"{path.absolute().as_posix()}:{line}"


def _template_data(row: dict[str, str], layout: _Layout) -> tuple[Data, int]:
    filled = [c for c in TEMPLATE_DATA if row.get(c, "").strip()]
    if len(filled) != 1:
        choices = ", ".join(c for c in TEMPLATE_DATA if c in row)
        got = f"got {', '.join(filled)}" if filled else "all are empty"
        raise InputError(BAD_REQUEST, f"fill exactly one of {choices} ({got})")
    medium, field = TEMPLATE_DATA[filled[0]]
    value = row[filled[0]] if field == "raw" else row[filled[0]].strip()
    sizes = {"raw": len(value.encode()), "url": URL_SIZE, "base64": len(value) * 3 // 4}
    medium_type = Text if field == "raw" else Media
    data, size = Data(**{medium: medium_type(**{field: value})}), sizes[field]
    for id_column, value_column in layout.concepts:
        if concept_id := row[id_column].strip():
            cell = row[value_column].strip() if value_column else ""
            data.concepts.append(Concept(id=concept_id, value=_concept_value(cell, value_column)))
    data.metadata = _metadata(row.get("input.data.metadata", ""), "input.data.metadata")
    lat, lon = row.get(LAT, "").strip(), row.get(LON, "").strip()
    if lat or lon:
        data.geo = _geo(lat, lon, LAT, LON)
    return data, size


def _simple_data(row: dict[str, str], files: _Files) -> tuple[Data, int]:
    data, size = _simple_input(row["input"], files)
    names = dict.fromkeys(c.strip() for c in re.split(r"[|;,]", row.get("concepts", "")))
    data.concepts = [Concept(id=name, value=1.0) for name in names if name]
    data.metadata = _metadata(row.get("metadata", ""), "metadata")
    if geo := row.get("geopoints", "").strip():
        parts = re.split(r"\s*,\s*|\s+", geo)
        if len(parts) != 2:
            raise InputError(
                BAD_ARG, f"column geopoints: {_show(geo)} is not 'lat,lon' (e.g. '48.85,2.35')"
            )
        data.geo = _geo(parts[0], parts[1], "geopoints (latitude)", "geopoints (longitude)")
    return data, size


def _simple_input(raw: str, files: _Files) -> tuple[Data, int]:
    """Raw text, an http(s) URL or a local file (relative to `start`, under `bound`)."""
    start, bound, input_type = files.start, files.bound, files.input_type
    value = raw.strip()
    if not value:
        raise InputError(BAD_REQUEST, "column input is empty: give text, a URL or a file path")
    forced = MediaType(input_type) if input_type != "auto" else None
    if scheme := _SCHEME.match(value):
        if scheme.group(1).lower() not in ("http", "https"):
            raise InputError(
                StatusCode.INPUT_INVALID_URL,
                f"column input: {_show(value)}: only http(s) URLs can be fetched",
            )
        suffix = PurePosixPath(urlsplit(value).path).suffix.lower()
        kind = forced or EXTENSION_TYPES.get(suffix, MediaType.IMAGE)
        medium = Text(url=value) if kind is MediaType.TEXT else Media(url=value)
        return Data(**{kind.value: medium}), URL_SIZE
    one_line = not any(ch in value for ch in "\r\n\0") and len(value) < 4096
    suffix = PurePosixPath(value).suffix.lower()
    pathlike = one_line and (value.startswith(("./", "../", "/")) or suffix in EXTENSION_TYPES)
    shown = f"column input: {_show(value)}"
    try:
        if not one_line:
            raise LocalPathRefused(BAD_ARG, "not a path", missing=True)
        return local_file_data(bound, value, shown, files.stager, start=start, forced=forced)
    except LocalPathRefused as exc:
        if pathlike or forced not in (None, MediaType.TEXT):
            if exc.missing:
                raise InputError(
                    StatusCode.INPUT_DOES_NOT_EXIST,
                    f"{shown}: no such file (relative paths start at {start})",
                ) from None
            raise
        if exc.missing or exc.code is BAD_ARG:  # a bare word, or the name of a folder
            return Data(text=Text(raw=raw)), len(raw.encode())
        raise


def _concept_value(cell: str, column: str | None) -> float:
    value = _number(cell) if cell else 1.0
    if value not in (0.0, 1.0):
        raise InputError(
            BAD_ARG,
            f"column {column}: concept value {_show(cell)} must be 0, 1 or empty (meaning 1)",
        )
    return value


def _geo(lat: str, lon: str, lat_column: str, lon_column: str) -> Geo:
    coords = []
    for cell, column, bound in ((lat, lat_column, 90.0), (lon, lon_column, 180.0)):
        value = _number(cell)
        if not (math.isfinite(value) and -bound <= value <= bound):
            raise InputError(
                BAD_ARG,
                f"column {column}: {_show(cell)} is not a number from {-bound:g} to {bound:g}",
            )
        coords.append(value)
    return Geo(geo_point=GeoPoint(latitude=coords[0], longitude=coords[1]))


def _number(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return math.nan


def _metadata(cell: str, column: str) -> dict[str, Any]:
    if not cell.strip():
        return {}
    try:
        value = json.loads(cell, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise InputError(
            StatusCode.METADATA_PARSING_ISSUE, f"column {column}: {_show(cell)} is not JSON: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise InputError(
            BAD_ARG, f'column {column}: {_show(cell)} must be a JSON object (like {{"k": "v"}})'
        )
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (use null or a string)")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _show(value: str, width: int = 60) -> str:
    """A cell as a message shows it: quoted, escaped, cut to about `width` characters."""
    return repr(value if len(value) <= width else value[: width - 3] + "...")
