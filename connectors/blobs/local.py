"""Blob store on a local directory (the embedded default)."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import InputError
from pipeline.status import StatusCode

_SAFE_DIRS = 100_000  # directories remembered (media keys use a few per app)
_SPECIAL = frozenset({"", ".", ".."})


class LocalBlobStore:
    """Objects as files under a root directory; writes are atomic (temp file + os.replace)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        # Directories made by this store: a put of a small blob costs a few syscalls, and
        # creating the parents again each time (and a random temp name) was most of them.
        self._dirs: set[Path] = set()
        self._safe: set[Path] = set()  # directories whose keys resolve to themselves
        self._temp_names = itertools.count()

    def describe(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InputError(
                StatusCode.INPUT_INVALID_ARGUMENT, f"blob key {key!r} escapes the store"
            )
        return path

    def _put_path(self, key: str) -> Path:
        """`_path` for a write, without an lstat of every part each time: a key in plain form
        in a directory that resolved to itself before. A write replaces the name itself
        (os.replace does not follow a symlink there), so only the directories matter."""
        parts = key.split("/")
        parent = self.root.joinpath(*parts[:-1])
        if parent in self._safe and not _SPECIAL.intersection(parts):
            return parent / parts[-1]
        path = self._path(key)
        if path.parent == parent and len(self._safe) < _SAFE_DIRS:
            self._safe.add(parent)  # resolves to itself: no "..", no symlink on the way
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._put_path(key)
        # A name no other writer uses (process, thread, count): created exclusively, as
        # mkstemp would, without its random name tries.
        tmp = path.parent / f".tmp-{os.getpid()}-{threading.get_ident()}-{next(self._temp_names)}"
        try:
            fd = self._create(tmp)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _create(self, tmp: Path) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        if tmp.parent not in self._dirs:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(tmp.parent)
        try:
            return os.open(tmp, flags, 0o600)
        except FileNotFoundError:  # its directory was removed meanwhile
            tmp.parent.mkdir(parents=True, exist_ok=True)
            return os.open(tmp, flags, 0o600)

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def download(self, key: str, path: Path) -> None:
        shutil.copyfile(self._path(key), path)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def modified(self, key: str) -> datetime | None:
        path = self._path(key)
        try:
            return datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except FileNotFoundError:
            return None

    def keys(self, prefix: str = "") -> Iterator[str]:
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key
