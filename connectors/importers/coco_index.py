"""A COCO instances file read as a stream into a temporary SQLite index, in bounded memory.

A COCO file may list `annotations` before or after `images`, and a 1 GB file does not fit
in memory as a document. So the file is streamed with ijson, one array at a time
(categories, images, annotations: three passes of the C parser), into an on-disk SQLite
database; then images are read back in file order, each with its annotations looked up by
image id. The whole file is parsed before the first image is sent: broken JSON imports
nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

MAX_CATEGORIES = 100_000  # held in memory; LVIS has 1,203
_ROWS_PER_INSERT = 2_000


class CocoFileError(ValueError):
    """The file as a whole is not a usable COCO instances file: nothing is imported."""


@dataclass
class CocoImage:
    seq: int  # position in the file's images array
    key: str | None  # the image id as JSON text (1 and "1" stay apart); None: no id
    raw: dict[str, Any]
    duplicate_of: int | None = None  # seq of an earlier image with this id or file_name


@dataclass
class CocoAnnotation:
    seq: int  # position in the file's annotations array
    raw: dict[str, Any]


@dataclass
class CocoCategory:
    id: Any
    name: str
    supercategory: str = ""


@dataclass
class CocoIndex:
    """The parsed file: categories in memory, images and annotations in SQLite on disk."""

    db: sqlite3.Connection
    categories: dict[str, CocoCategory] = field(default_factory=dict)
    images: int = 0
    annotations: int = 0

    def iter_images(self) -> Iterator[CocoImage]:
        """Images in file order; a later image reusing an id or file_name is marked."""
        cur = self.db.execute("SELECT seq, key, file_name, raw FROM images ORDER BY seq")
        for seq, key, name, raw in cur:
            image = CocoImage(seq, key, orjson.loads(raw))
            first = min(self._first("key", key, seq), self._first("file_name", name, seq))
            if first != seq:
                image.duplicate_of = first
            yield image

    def _first(self, column: str, value: str | None, seq: int) -> int:
        """The first image with this id or file_name (both indexed with seq: one lookup)."""
        if value is None:
            return seq
        query = f"SELECT MIN(seq) FROM images WHERE {column} = ?"  # noqa: S608 (a fixed name)
        return int(self.db.execute(query, (value,)).fetchone()[0])

    def annotations_of(self, image_key: str) -> list[CocoAnnotation]:
        rows = self.db.execute(
            "SELECT seq, raw FROM annotations WHERE image_key = ? ORDER BY seq", (image_key,)
        )
        return [CocoAnnotation(seq, orjson.loads(raw)) for seq, raw in rows]

    def orphan_annotations(self) -> Iterator[CocoAnnotation]:
        """Annotations whose image id no image of the file has."""
        rows = self.db.execute(
            "SELECT seq, raw FROM annotations a WHERE a.image_key IS NULL OR NOT EXISTS "
            "(SELECT 1 FROM images i WHERE i.key = a.image_key) ORDER BY seq"
        )
        for seq, raw in rows:
            yield CocoAnnotation(seq, orjson.loads(raw))

    def first_file_names(self, n: int) -> list[str]:
        rows = self.db.execute(
            "SELECT file_name FROM images WHERE file_name IS NOT NULL ORDER BY seq LIMIT ?", (n,)
        )
        return [r[0] for r in rows]


def id_key(value: Any) -> str | None:
    """An id as canonical JSON text (ints and strings both occur in the wild); None if absent."""
    if type(value) is int:  # the common case, without json.dumps
        return str(value)
    if value is None or isinstance(value, dict | list | bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value)


def build_index(path: Path, workdir: Path) -> CocoIndex:
    """Stream `path` into an index under `workdir`; CocoFileError when the file is unusable."""
    db = sqlite3.connect(workdir / "coco-index.sqlite3")
    # A scratch database: nothing needs surviving a crash, and the page cache stays small.
    db.executescript(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-4096;"
        "CREATE TABLE images (seq INTEGER PRIMARY KEY, key TEXT, file_name TEXT, raw TEXT);"
        "CREATE TABLE annotations (seq INTEGER PRIMARY KEY, image_key TEXT, raw TEXT);"
    )
    index = CocoIndex(db)
    try:
        with path.open("rb") as fh:
            _check_top_level(fh, path)
            fh.seek(0)
            _read_categories(fh, index)
            fh.seek(0)
            images = (_image_row(n, raw) for n, raw in _items(fh, "images"))
            index.images = _insert(db, "images", images)
            fh.seek(0)
            anns = (
                (n, id_key(_get(raw, "image_id")), _dump(raw))
                for n, raw in _items(fh, "annotations")
            )
            index.annotations = _insert(db, "annotations", anns)
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        db.close()
        raise CocoFileError(f"{path.name} is not valid JSON: {exc}; nothing was imported") from None
    except BaseException:
        db.close()
        raise
    db.execute("CREATE INDEX annotations_by_image ON annotations (image_key, seq)")
    db.execute("CREATE INDEX images_by_key ON images (key, seq)")
    db.execute("CREATE INDEX images_by_name ON images (file_name, seq)")
    return index


def _check_top_level(fh: IO[bytes], path: Path) -> None:
    events = ijson.parse(fh)
    try:
        first = next(events, None)
    except ijson.JSONError as exc:
        raise CocoFileError(f"{path.name} is not valid JSON: {exc}; nothing was imported") from None
    if first is None or first[1] != "start_map":
        raise CocoFileError(
            f"{path.name} is not a COCO instances file: its top level must be a JSON object "
            "with images, annotations and categories"
        )


def _items(fh: IO[bytes], name: str) -> Iterator[tuple[int, Any]]:
    yield from enumerate(ijson.items(fh, f"{name}.item", use_float=True))


def _read_categories(fh: IO[bytes], index: CocoIndex) -> None:
    for n, raw in enumerate(ijson.items(fh, "categories.item", use_float=True)):
        if n >= MAX_CATEGORIES:
            raise CocoFileError(f"the file has more than {MAX_CATEGORIES} categories")
        key = id_key(_get(raw, "id"))
        name = _get(raw, "name")
        if key is None or not isinstance(name, str) or not name.strip():
            raise CocoFileError(
                f"categories[{n}] needs an id and a non-empty name (got {_dump(raw)[:120]})"
            )
        if key in index.categories:
            raise CocoFileError(f"categories[{n}]: category id {key} appears twice")
        sup = _get(raw, "supercategory")
        index.categories[key] = CocoCategory(
            json.loads(key), name.strip(), sup if isinstance(sup, str) else ""
        )


def _image_row(n: int, raw: Any) -> tuple[int, str | None, str | None, str]:
    name = _file_name(raw) if isinstance(raw, dict) else None
    return n, id_key(_get(raw, "id")), name, _dump(raw)


def _file_name(raw: dict[str, Any]) -> str | None:
    name = raw.get("file_name")
    return name if isinstance(name, str) else None


def _get(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, dict) else None


def _dump(raw: Any) -> str:
    try:
        return orjson.dumps(raw).decode()
    except TypeError:  # an integer past 64 bits: orjson refuses it, json does not
        return json.dumps(raw, separators=(",", ":"))


def _insert(db: sqlite3.Connection, table: str, rows: Iterator[tuple[Any, ...]]) -> int:
    marks = ",".join("?" * (4 if table == "images" else 3))
    count = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _ROWS_PER_INSERT:
            db.executemany(f"INSERT INTO {table} VALUES ({marks})", batch)  # noqa: S608
            count += len(batch)
            batch.clear()
    db.executemany(f"INSERT INTO {table} VALUES ({marks})", batch)  # noqa: S608
    return count + len(batch)
