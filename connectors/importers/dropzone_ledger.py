"""What a job has done: its counters, and the ledger rows of objects and members as they settle.

An archive's own row is written only when every member it gave has settled, so a job
stopped half-way through an archive extracts it again next time (its settled members come
back unchanged).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from connectors.catalog.extraction_jobs import ExtractionJobCatalog, LedgerRow
from connectors.catalog.extraction_tables import COUNTERS
from connectors.importers.dropzone_items import ObjectItem
from pipeline.records import Action
from pipeline.status import StatusCode

OK = (Action.CREATED, Action.UPDATED, Action.UNCHANGED)
SUCCESS = int(StatusCode.INPUT_SUCCESS)
_RETRYABLE = {int(StatusCode.INPUT_DOES_NOT_EXIST), int(StatusCode.INPUT_VIDEO_DOES_NOT_EXIST)}


def terminal(code: int) -> bool:
    """A failure of the content itself: reading the same bytes again cannot help."""
    bad_input = 30000 < code < 32000 and code not in _RETRYABLE
    return bad_input or code == int(StatusCode.ARCHIVE_EXTRACT_FAILED)


def stored_id(prior: LedgerRow | None, kind: str) -> str | None:
    """The input an earlier run stored for this origin: a changed object updates it."""
    if prior is None or prior.kind != kind:
        return None
    return prior.input_id


class JobProgress:
    """The job's counters; object reads update them from worker threads."""

    def __init__(self) -> None:
        # done_objects_count (objects fully handled) feeds the CLI's bar; it is not stored.
        self.counts: dict[str, int] = dict.fromkeys((*COUNTERS, "done_objects_count"), 0)
        self._lock = threading.Lock()

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, n in deltas.items():
                self.counts[name] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


@dataclass
class _Archive:
    row: LedgerRow
    remaining: int = 0
    extracted: bool = False


class JobLedger:
    """Counters and ledger rows of one job's items; used from the job's own thread."""

    def __init__(
        self,
        jobs: ExtractionJobCatalog,
        *,
        user_id: str,
        app_id: str,
        job_id: str,
        template_fp: str,
        progress: JobProgress,
    ) -> None:
        self.jobs, self.user_id, self.app_id, self.job_id = jobs, user_id, app_id, job_id
        self.template_fp = template_fp
        self.progress = progress
        self.pending_rows: list[LedgerRow] = []
        self._archives: dict[str, _Archive] = {}

    def archive_opened(self, base: ObjectItem) -> None:
        self._archives[base.origin_id] = _Archive(self.row(base, None, SUCCESS, kind="archive"))

    def member_added(self, parent: str) -> None:
        self._archives[parent].remaining += 1

    def archive_closed(self, parent: str) -> None:
        """Every member has been handed on; the archive completes when they have settled."""
        self._archives[parent].extracted = True
        self._maybe_complete(parent)

    def settled(self, item: Any, action: Action, code: int, input_id: str | None) -> None:
        """One item's outcome: the job's counters and the ledger row to write."""
        assert isinstance(item, ObjectItem)
        ok = action in OK
        if ok and item.media_type is not None:
            self.progress.add(**{f"{item.media_type.value}_inputs_count": 1})
        elif action is Action.FAILED:
            self.progress.add(failed_inputs_count=1)
        if item.kind == "archive":  # the archive itself was refused
            self.progress.add(in_progress_archives_count=-1, failed_archives_count=1)
        if item.kind != "member":
            self.progress.add(done_objects_count=1)
        kept = item.input.id if item.input is not None and item.input.replace else None
        self.pending_rows.append(self.row(item, input_id if ok else kept, code))
        if item.parent_id in self._archives:
            self._archives[item.parent_id].remaining -= 1
            self._maybe_complete(item.parent_id)

    def _maybe_complete(self, parent: str) -> None:
        state = self._archives[parent]
        if state.extracted and state.remaining == 0:
            del self._archives[parent]
            self.pending_rows.append(state.row)
            self.progress.add(
                in_progress_archives_count=-1, completed_archives_count=1, done_objects_count=1
            )

    def row(
        self, item: ObjectItem, input_id: str | None, code: int, kind: str | None = None
    ) -> LedgerRow:
        return LedgerRow(
            origin_id=item.origin_id,
            origin=item.origin,
            bucket=item.bucket,
            key=item.object_key,
            parent_id=item.parent_id,
            kind=kind or item.kind,
            etag=item.etag,
            template_fp=self.template_fp,
            input_id=input_id,
            status_code=code,
            job_id=self.job_id,
        )

    def flush(self) -> None:
        """Write the ledger rows of settled items; inputs that came back are live again."""
        rows, self.pending_rows = self.pending_rows, []
        self.jobs.record(self.user_id, self.app_id, rows)
        back = [r.input_id for r in rows if r.input_id and r.status_code == SUCCESS]
        if back:
            self.jobs.undelete_inputs(self.user_id, self.app_id, back)
