"""What the ingest stage returns, and what it has prepared to commit."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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


@dataclass(frozen=True)
class Scratch:
    """Where a request writes its blobs from: a pool of writers, a work directory."""

    pool: ThreadPoolExecutor
    workdir: Path

    def clear(self) -> None:
        for path in self.workdir.iterdir():
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


@contextmanager
def open_scratch(blob_concurrency: int) -> Iterator[Scratch]:
    with (
        tempfile.TemporaryDirectory(prefix="ingestd-ingest-") as workdir,
        ThreadPoolExecutor(max_workers=max(1, blob_concurrency)) as pool,
    ):
        yield Scratch(pool, Path(workdir))
