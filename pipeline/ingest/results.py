"""What the ingest stage returns, and what it has prepared to commit."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest.ports import UploadCommit
from pipeline.records import InputOutcome
from pipeline.stage import FollowUp


@dataclass
class IngestResult:
    request_id: str
    outcomes: list[InputOutcome]
    replayed: bool = False
    blobs_written: int = 0
    follow_ups: list[FollowUp] = field(default_factory=list)
    """Events for other stages (e.g. MediaTasks); the transport publishes them before acking."""

    @property
    def failed(self) -> list[InputOutcome]:
        return [o for o in self.outcomes if not o.ok]


@dataclass
class Prepared:
    """A request planned and its blobs written: the commit to make, and the result it will
    have once committed."""

    commit: UploadCommit
    result: IngestResult
    uploads: list[Future[None]] = field(default_factory=list)
    """Its blob writes, maybe still running: all must succeed before the commit."""


class Scratch:
    """Where requests write their blobs from: the stage's writers, and a work directory made
    on first use (most batches never need one)."""

    def __init__(self, pool: Executor) -> None:
        self.pool = pool
        self.writes: list[Future[None]] = []
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def workdir(self) -> Path:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="ingestd-ingest-")
        return Path(self._dir.name)

    def write(
        self, fn: Callable[[str, bytes | Path], None], key: str, src: bytes | Path
    ) -> Future[None]:
        """Start a blob write; the scratch waits for it before its directory goes."""
        future = self.pool.submit(fn, key, src)
        self.writes.append(future)
        return future

    def clear(self) -> None:
        if self._dir is None:
            return
        for path in self.workdir.iterdir():
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        wait(self.writes)  # none still reads the directory when it is removed
        if self._dir is not None:
            self._dir.cleanup()


@contextmanager
def open_scratch(pool: Executor) -> Iterator[Scratch]:
    scratch = Scratch(pool)
    try:
        yield scratch
    finally:
        scratch.close()
