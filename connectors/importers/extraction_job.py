"""Run one extraction job: list the prefix, read, extract, submit, follow to the end; or watch.

The job row is the shared state: its status says whether to go on (`ingestd jobs cancel`
sets it from any process), and its counters are written every half second. Submitting
goes through the transport's `submit` only, and settling is read from the catalog, so the
same runner works on the embedded bus and on Kafka.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.catalog.extraction_jobs import LedgerRow
from connectors.catalog.sql import SqlCatalog
from connectors.importers.dropzone import DropZoneReader
from connectors.importers.dropzone_config import DropZoneSettings
from connectors.importers.dropzone_items import InputTemplate, ObjectItem, origin_id
from connectors.importers.dropzone_ledger import JobProgress
from connectors.importers.prefetch import prefetch
from connectors.importers.runner import ImportOptions, ImportRun
from connectors.importers.s3_notifications import NotificationQueue
from connectors.importers.s3_source import (
    S3Credentials,
    S3Object,
    etag_of,
    parse_s3_url,
)
from pipeline.errors import IngestError
from pipeline.events import UploadRequest
from pipeline.limits import Limits
from pipeline.models import ConflictResolution
from pipeline.status import StatusCode

log = logging.getLogger(__name__)
TICK = 0.5  # seconds between progress writes and cancel checks
KEEP = 1000  # failures and deleted keys kept in the summary


@dataclass
class JobOutcome:
    job: dict[str, Any]
    run_id: str = ""
    actions: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    cycle_errors: list[str] = field(default_factory=list)
    requests: int = 0
    cycles: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.job["status_code"] == StatusCode.JOB_FAILED or bool(self.actions["failed"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "run_id": self.run_id,
            "actions": dict(self.actions),
            "codes": dict(self.codes),
            "failures": self.failures,
            "deleted": self.deleted,
            "cycle_errors": self.cycle_errors,
            "requests": self.requests,
            "cycles": self.cycles,
            "seconds": round(self.seconds, 3),
        }


class ExtractionJobRunner:
    def __init__(
        self,
        *,
        submit: Callable[[UploadRequest], None],
        catalog: SqlCatalog,
        user_id: str,
        app_id: str,
        limits: Limits,
        config: DropZoneSettings,
        job_id: str,
        credentials: S3Credentials,
        sqs_queue_url: str | None = None,
        force: bool = False,
        on_progress: Callable[[dict[str, int]], None] | None = None,
        on_poll: Callable[[dict[str, int], datetime], None] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.submit, self.catalog = submit, catalog
        self.user_id, self.app_id, self.config = user_id, app_id, config
        self.jobs = catalog.jobs
        job = self.jobs.get(user_id, app_id, job_id)
        if job is None:
            raise ValueError(f"no extraction job {job_id!r} in app {app_id!r}")
        self.job_id = job_id
        self.where = parse_s3_url(job["url"])
        template = InputTemplate(**job["input_template"])
        self.options = ImportOptions(
            user_id=user_id,
            app_id=app_id,
            dataset_ids=template.dataset_ids,
            conflict_resolution=ConflictResolution(job["input_id_conflict_resolution"]),
            source="s3",
            job_id=job_id,
            limits=limits,
            max_pending=64,  # bounds the memory of items in flight when the transport does not
        )
        if run_id is not None:
            self.options.run_id = run_id  # one run for every pass of this job's invocation
        self.client = credentials.client(max_pool=max(10, self.config.concurrency * 2))
        self.queue = (
            NotificationQueue(credentials.sqs_client(), sqs_queue_url, self.where)
            if sqs_queue_url
            else None
        )
        self.progress = JobProgress()
        self.stop = threading.Event()
        self.area = Path(self.config.work_dir) / job_id
        self.reader = DropZoneReader(
            client=self.client,
            where=self.where,
            template=template,
            jobs=self.jobs,
            job_id=job_id,
            user_id=user_id,
            app_id=app_id,
            config=self.config,
            progress=self.progress,
            area=self.area,
            stop=self.stop,
            tick=self.tick,
            force=force,
        )
        self.on_progress = on_progress or (lambda _c: None)
        # After each watch cycle, failed or not: the counters and when that poll began.
        self.on_poll = on_poll or (lambda _c, _t: None)
        self.outcome = JobOutcome(job=job, run_id=self.options.run_id)
        self._last_tick = 0.0
        self.tick_seconds = TICK
        self._saved: tuple[dict[str, int], str | None] | None = None

    # -- the job ------------------------------------------------------------------------

    def run(self, watch: bool = False, cycles: int | None = None) -> JobOutcome:
        """One full pass, then (watch) incremental cycles until cancelled or `cycles` ran."""
        started = time.monotonic()
        code, message = StatusCode.JOB_COMPLETED, ""
        if not self.jobs.start(self.job_id):
            return self._finish(started, StatusCode.JOB_CANCELLED, "cancelled before it started")
        try:
            if self.queue is not None:
                self.queue.check()  # a wrong queue fails the job now, not every cycle
            self._pass(self.reader.listing_items(sweep=True), sweep=True)
            if watch:
                self._watch(cycles)
        except KeyboardInterrupt:
            self.stop.set()
            code, message = StatusCode.JOB_CANCELLED, "interrupted"
        except IngestError as exc:
            code, message = StatusCode.JOB_FAILED, f"{int(exc.code)} {exc.code.name}: {exc.message}"
        except Exception as exc:
            log.exception("extraction job %s failed", self.job_id)
            code, message = StatusCode.JOB_FAILED, f"unexpected error: {type(exc).__name__}: {exc}"
        finally:
            self.tick(force=True)
            shutil.rmtree(self.area, ignore_errors=True)
        if self.stop.is_set() and code is StatusCode.JOB_COMPLETED:
            code, message = StatusCode.JOB_CANCELLED, "cancelled by request"
        return self._finish(started, code, message)

    def _finish(self, started: float, code: StatusCode, message: str) -> JobOutcome:
        self.jobs.finish(self.job_id, code, message)
        self.outcome.job = self.jobs.get(self.user_id, self.app_id, self.job_id) or {}
        self.outcome.seconds = time.monotonic() - started
        return self.outcome

    def _watch(self, cycles: int | None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        n, noted = 0, False
        while not self.stop.is_set() and (cycles is None or n < cycles):
            self._sleep(self.config.poll_interval)
            if self.stop.is_set():
                return
            n += 1
            polled_at = datetime.now(UTC)
            try:
                if self.config.rescan_every and n % self.config.rescan_every == 0:
                    self._pass(self.reader.listing_items(sweep=True), sweep=True)
                elif self.queue is not None:
                    self._notifications()
                else:
                    self._pass(self.reader.listing_items(start_after=self.reader.max_key))
                if noted:  # the trouble has passed
                    self.jobs.note(self.job_id, "")
                    noted = False
            except (IngestError, BotoCoreError, ClientError) as exc:
                # A bad moment of S3 or the queue must not end a drop zone: note and go on.
                log.warning("watch cycle %d of job %s failed: %s", n, self.job_id, exc)
                note = f"cycle {n} failed, retried next cycle: {exc}"
                self.jobs.note(self.job_id, note)
                noted = True
                self.outcome.cycle_errors = [*self.outcome.cycle_errors[-(KEEP - 1) :], note]
            self.outcome.cycles = n
            self.on_poll(self.progress.snapshot(), polled_at)

    def _pass(self, items: Generator[ObjectItem, None, None], sweep: bool = False) -> None:
        since = datetime.now(UTC)
        run = ImportRun(
            self.submit,
            self.catalog,
            self.options,
            on_item=self._settled,
            should_stop=self._should_stop,
        )
        try:
            summary = run.run(items)
        finally:
            items.close()
        out = self.outcome
        out.actions.update(summary.actions)
        out.codes.update(summary.codes)
        out.failures += summary.failures[: max(0, KEEP - len(out.failures))]
        out.requests += summary.requests
        self.tick(force=True)
        if sweep and not self.stop.is_set():
            gone = list(
                self.jobs.unseen(
                    self.user_id,
                    self.app_id,
                    self.where.bucket,
                    self.where.prefix,
                    since,
                )
            )
            self._deleted(gone)

    # -- notifications ------------------------------------------------------------------

    def _notifications(self) -> None:
        assert self.queue is not None
        notices, receipts = self.queue.receive()
        present: list[S3Object] = []
        gone: list[str] = []
        # HEAD tells the current truth whatever order the notices came in.
        heads = prefetch(
            notices,
            lambda n: self._head(n.key),
            concurrency=self.config.concurrency,
            budget=len(notices) + 1,
            weight=lambda _n: 1,
        )
        for notice, head in heads:
            if isinstance(head, Exception):
                raise head
            if head is None:
                gone.append(notice.key)
            else:
                present.append(head)
        if present:
            self._pass(self.reader.object_items(present))
        if gone:
            ids = [origin_id(self.where.origin(k)) for k in gone]
            rows = self.jobs.lookup(self.user_id, self.app_id, ids)
            self._deleted([r for r in rows.values() if r.deleted_at is None])
        if not self.stop.is_set():
            self.queue.ack(receipts)

    def _head(self, key: str) -> S3Object | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.where.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return S3Object(key, int(head["ContentLength"]), etag_of(head.get("ETag")))

    def _deleted(self, rows: list[LedgerRow]) -> None:
        if not rows:
            return
        delete = self.config.delete_inputs
        inputs = self.jobs.mark_deleted(self.user_id, self.app_id, rows, delete)
        self.progress.add(deleted_objects_count=len(rows))
        keys = sorted(r.key for r in rows)
        self.outcome.deleted += keys[: max(0, KEEP - len(self.outcome.deleted))]
        log.info(
            "job %s: %d objects deleted from %s (%d inputs%s)",
            self.job_id,
            len(rows),
            self.where.url,
            len(inputs),
            " marked deleted" if delete else "",
        )
        self.tick(force=True)

    # -- progress and cancellation ------------------------------------------------------

    def _settled(self, item: Any, action: Any, code: int, input_id: str | None) -> None:
        self.reader.ledger.settled(item, action, code, input_id)
        self.tick()

    def _should_stop(self) -> bool:
        self.tick()
        return self.stop.is_set()

    def tick(self, force: bool = False) -> None:
        """Every half second: write the ledger and the counters, and notice a cancel."""
        now = time.monotonic()
        if not force and now - self._last_tick < self.tick_seconds:
            return
        self._last_tick = now
        self.reader.ledger.flush()
        counts = self.progress.snapshot()
        saved = (counts, self.reader.max_key)
        if saved != self._saved:  # an idle drop zone writes nothing
            self.jobs.save_progress(self.job_id, counts, last_key=self.reader.max_key)
            self._saved = saved
        if self.jobs.status(self.job_id) == StatusCode.JOB_CANCELLED:
            self.stop.set()
        self.on_progress(counts)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            self.tick()
