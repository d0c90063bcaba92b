"""Run an import: batch items within the limits, submit upload requests, follow them to the end.

Progress comes from what the stages have stored (the catalog's processed events and dead
letters), not from the transport, so the same runner reports truthfully whether the
ingest stage runs in this process or on Kafka workers elsewhere. The run is also an add-job
(its id is the run id): what it submits and refuses is added to the job's record before it
is sent, and the stages add what they stored, so `ingestd inputs status --run RUN` (and
GetInputsAddJob) show the run's progress from any machine.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from connectors.importers.items import ImportItem
from pipeline.errors import InputError
from pipeline.events import DeadLetter, UploadRequest
from pipeline.ids import new_run_id
from pipeline.limits import Limits, shard_batches
from pipeline.models import ConflictResolution, Input
from pipeline.records import Action, InputOutcome, Refusal
from pipeline.status import StatusCode
from pipeline.topics import shard_of_id

REFUSALS_PER_WRITE = 500  # refused items written to the catalog together


class RefusalSink(Protocol):
    def record(self, user_id: str, app_id: str, refusals: Sequence[Refusal]) -> None: ...


class JobCounts(Protocol):
    def add(
        self,
        user_id: str,
        app_id: str,
        job_id: str,
        source: str,
        *,
        submitted: int = 0,
        refused: int = 0,
    ) -> None: ...


class SettledSource(Protocol):
    """The catalog as an import sees it: what settled, where refused items are kept, and
    the run's add-job record (its progress, which the stages update)."""

    @property
    def refusals(self) -> RefusalSink: ...

    @property
    def add_jobs(self) -> JobCounts: ...

    def settled(
        self, user_id: str, app_id: str, event_ids: Collection[str]
    ) -> dict[str, list[InputOutcome] | DeadLetter]: ...


@dataclass
class ImportSummary:
    source: str
    run_id: str = ""
    submitted: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    report: str | None = None
    stopped: bool = False

    @property
    def failed(self) -> int:
        return self.actions[Action.FAILED.value]

    @property
    def total(self) -> int:
        return sum(self.actions.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "run_id": self.run_id,
            "total": self.total,
            "requests": self.requests,
            "actions": dict(self.actions),
            "codes": dict(self.codes),
            "failures": self.failures,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "report": self.report,
        }


@dataclass
class ImportOptions:
    user_id: str = "me"
    app_id: str = "main"
    dataset_ids: list[str] = field(default_factory=list)
    conflict_resolution: ConflictResolution = ConflictResolution.SKIP
    source: str = "folder"
    job_id: str | None = None
    run_id: str = field(default_factory=new_run_id)  # on every input the run sends (lineage)
    limits: Limits = field(default_factory=Limits)
    poll_interval: float = 0.2
    max_pending: int | None = None  # requests sent but not settled (Kafka does not block)


class ImportRun:
    """One import: `run(items)` submits every batch and returns once each has settled."""

    def __init__(
        self,
        submit: Callable[[UploadRequest], None],
        catalog: SettledSource,
        options: ImportOptions,
        progress: Callable[[int], None] | None = None,
        on_item: Callable[[ImportItem, Action, int, str | None], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """`on_item` hears each item as it settles; `should_stop` true: submit nothing more."""
        self.submit = submit
        self.on_item = on_item
        self.should_stop = should_stop or (lambda: False)
        self.catalog = catalog
        self.options = options
        self.progress = progress or (lambda _n: None)
        self.summary = ImportSummary(source=options.source, run_id=options.run_id)
        self._refused: list[Refusal] = []
        self._pending: dict[str, list[ImportItem]] = {}
        self._last_poll = 0.0
        # Inputs the ingest stage left to the media stage (30001): input id -> (entry, action)
        self._media_pending: dict[str, tuple[dict[str, Any], Action]] = {}

    def run(self, items: Iterable[ImportItem], timeout: float | None = None) -> ImportSummary:
        started = time.monotonic()
        self._count()  # the run's record exists from the start
        good = self._divert_failures(items)
        limits = self.options.limits
        # One shard of input ids per request: an app's import spreads over every partition
        # while requests for one id keep their order.
        for batch in shard_batches(
            good, _shard, lambda it: it.size, limits, _is_video, held_bytes=limits.batch_bytes
        ):
            if self.should_stop():
                self.summary.stopped = True
                break  # cancelled: this batch is never sent; the ones sent still settle
            inputs, batch = self._ready(batch)
            if not batch:
                continue
            request = UploadRequest(
                request_id=uuid.uuid4().hex,
                user_id=self.options.user_id,
                app_id=self.options.app_id,
                inputs=inputs,
                dataset_ids=self.options.dataset_ids,
                conflict_resolution=self.options.conflict_resolution,
                job_id=self.options.job_id,
                source=self.options.source,
                run_id=self.options.run_id,
            )
            self._pending[request.request_id] = batch
            self._count(submitted=len(batch))  # before it is sent: a poll sees it pending
            self.submit(request)
            self.summary.requests += 1
            self.summary.submitted += len(batch)
            self._poll(force=False)
            while self.options.max_pending and len(self._pending) >= self.options.max_pending:
                time.sleep(self.options.poll_interval)
                self._poll(force=True)
        self._flush_refused()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._pending:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(self._pending)} requests not settled after {timeout:.0f}s; are the "
                    "ingest workers running?"
                )
            time.sleep(self.options.poll_interval)
            self._poll(force=True)
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def refresh_pending(self, statuses: Callable[[list[str]], dict[str, tuple[int, str]]]) -> None:
        """Count inputs left pending (30001) by the outcome the catalog holds now.

        `statuses` is the catalog's status look-up; call it once the stages are quiet (the
        embedded bus joined), so an oversized input split meanwhile is reported as done.
        """
        if not self._media_pending:
            return
        summary = self.summary
        for input_id, (code, message) in statuses(list(self._media_pending)).items():
            entry, action = self._media_pending[input_id]
            if code in _WAITING:
                continue  # still being worked on: reported as pending
            del self._media_pending[input_id]
            name = StatusCode(code).name
            _move(summary.codes, f"{entry['code']} {entry['status']}", f"{code} {name}")
            entry.update(code=code, status=name, message=message)
            if code not in _DONE_OK:
                _move(summary.actions, action.value, Action.FAILED.value)
                summary.failures.append(entry)

    def _divert_failures(self, items: Iterable[ImportItem]) -> Iterator[ImportItem]:
        """Items that failed before the stage go straight to the summary."""
        for item in items:
            if item.error is None and item.input is not None:
                yield item
                continue
            assert item.error is not None
            self._fail(item, item.error)

    def _ready(self, batch: list[ImportItem]) -> tuple[list[Input], list[ImportItem]]:
        """The inputs of a batch's request and the items they are; an item whose input
        cannot be built (annotations that do not parse) fails alone."""
        inputs: list[Input] = []
        sent: list[ImportItem] = []
        for item in batch:
            try:
                inputs.append(item.request_input())
            except InputError as exc:
                self._fail(item, exc)
                continue
            sent.append(item)
        return inputs, sent

    def _fail(self, item: ImportItem, error: InputError) -> None:
        self._record(item, Action.FAILED, int(error.code), error.message, item.input_id)
        self._refuse(item, error)
        self.progress(1)

    def _refuse(self, item: ImportItem, error: InputError) -> None:
        """Keep an item refused here in the catalog, where `inputs status` counts it."""
        lineage = item.lineage()
        self._refused.append(
            Refusal(
                key=item.key,
                input_id=item.input_id,
                code=int(error.code),
                message=error.message,
                source=self.options.source,
                run_id=self.options.run_id,
                job_id=self.options.job_id,
                source_uri=lineage.source_uri if lineage else None,
                source_etag=lineage.source_etag if lineage else None,
            )
        )
        if len(self._refused) >= REFUSALS_PER_WRITE:
            self._flush_refused()

    def _flush_refused(self) -> None:
        if self._refused:
            self.catalog.refusals.record(self.options.user_id, self.options.app_id, self._refused)
            self._count(refused=len(self._refused))
            self._refused = []

    def _count(self, submitted: int = 0, refused: int = 0) -> None:
        o = self.options
        self.catalog.add_jobs.add(
            o.user_id, o.app_id, o.run_id, o.source, submitted=submitted, refused=refused
        )

    def _poll(self, force: bool) -> None:
        now = time.monotonic()
        if not self._pending or (not force and now - self._last_poll < self.options.poll_interval):
            return
        self._last_poll = now
        for request_id, done in self.catalog.settled(
            self.options.user_id, self.options.app_id, list(self._pending)
        ).items():
            batch = self._pending.pop(request_id)
            if isinstance(done, DeadLetter):
                for item in batch:
                    self._record(item, Action.FAILED, int(done.code), done.message, item.input_id)
            else:
                for outcome in done:
                    item = batch[outcome.index]
                    self._record(
                        item, outcome.action, int(outcome.code), outcome.message, outcome.input_id
                    )
            self.progress(len(batch))

    def _record(
        self, item: ImportItem, action: Action, code: int, message: str, input_id: str | None
    ) -> None:
        self.summary.actions[action.value] += 1
        name = StatusCode(code).name
        self.summary.codes[f"{code} {name}"] += 1
        entry = {
            "item": item.key,
            "input_id": input_id,
            "code": code,
            "status": name,
            "message": message,
            "source": self.options.source,
        }
        if action is Action.FAILED:
            self.summary.failures.append(entry)
        elif action is Action.SKIPPED:
            self.summary.skipped.append(entry)
        elif code in _WAITING and input_id is not None:
            self._media_pending[input_id] = (entry, action)
        if self.on_item is not None:
            self.on_item(item, action, code, input_id)


_WAITING = frozenset(
    {
        StatusCode.INPUT_PENDING,
        StatusCode.INPUT_IN_PROGRESS,
        StatusCode.INPUT_VIDEO_DOWNLOAD_PENDING,
    }
)
_DONE_OK = frozenset({StatusCode.INPUT_SUCCESS, StatusCode.INPUT_VIDEO_DOWNLOAD_SUCCESS})


def _move(counter: Counter[str], old: str, new: str) -> None:
    counter[old] -= 1
    if counter[old] <= 0:
        del counter[old]
    counter[new] += 1


def _shard(item: ImportItem) -> int:
    input_id = item.input.id if item.input is not None else None
    return shard_of_id(input_id or item.key)


def _is_video(item: ImportItem) -> bool:
    return item.input is not None and item.input.data.video is not None


def write_report(
    summary: ImportSummary, path: Path, run: dict[str, Any] | None = None
) -> Path | None:
    """Failed items as JSON lines (the input of `--retry-failed`); None when nothing failed.

    Each line also holds `run` (the run's id, source and options), so that a retry redoes
    the items as the first run did (items.read_report); every line stays one failure.
    """
    if not summary.failures:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {} if run is None else {"run": run}
    with path.open("w", encoding="utf-8") as fh:
        for entry in summary.failures:
            fh.write(json.dumps({**entry, **extra}, sort_keys=True) + "\n")
    summary.report = str(path)
    return path
