"""What every stage may need from the outside world (blobs, URLs), as protocols.

`connectors/` implements these (local directory, S3, SQLite, PostgreSQL, HTTP); tests can
pass the real ones. Keeping them here is what lets `pipeline/` import no driver. The
catalog operations each stage needs are in that stage's own `ports` module.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    """Objects by key. Writes are idempotent: the same key always holds the same bytes."""

    def put(self, key: str, data: bytes) -> None: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def get(self, key: str) -> bytes: ...
    def download(self, key: str, path: Path) -> None: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int | None: ...
    def delete(self, key: str) -> None: ...
    def modified(self, key: str) -> datetime | None: ...  # last write (UTC); None if absent
    def keys(self, prefix: str = "") -> Iterator[str]: ...
    def describe(self) -> str: ...


class Fetcher(Protocol):
    """Downloads a URL under the SSRF guard and size/time limits; raises InputError."""

    def fetch(self, url: str, max_bytes: int) -> bytes: ...
    def fetch_to(self, url: str, max_bytes: int, dest: Path) -> int: ...  # streamed to a file
