"""Inputs-add jobs: the progress of the requests a PostInputs job id stands for.

A job's progress is its one record of counts (`catalog.add_jobs.counts`), which the stages
update in the transactions that store its inputs: GetInputsAddJob answers from the catalog
alone, after a restart and in front of Kafka workers alike. A job recorded before that
record existed is counted from its requests' processed events and dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.catalog.add_jobs import JobRequest
from connectors.catalog.sql import SqlCatalog
from pipeline.records import InputOutcome
from pipeline.status import StatusCode

_BUSY = {int(StatusCode.INPUT_PENDING), int(StatusCode.INPUT_IN_PROGRESS)}


@dataclass(frozen=True)
class Progress:
    pending: int
    in_progress: int
    success: int
    failed: int

    @property
    def done(self) -> bool:
        return self.pending == 0 and self.in_progress == 0


def job_progress(catalog: SqlCatalog, user: str, app: str, job_id: str) -> Progress | None:
    """The job's progress; None when there is no such job."""
    counts = catalog.add_jobs.counts(user, app, job_id)
    if counts is not None:
        return Progress(
            counts["pending"],
            counts["in_progress"],
            counts["succeeded"],
            counts["failed"] + counts["refused"],
        )
    requests = catalog.add_jobs.requests(user, app, job_id)
    return _from_requests(catalog, user, app, requests) if requests else None


def _from_requests(
    catalog: SqlCatalog, user: str, app: str, requests: list[JobRequest]
) -> Progress:
    """Counts over every input of the job's requests: a request not yet processed is
    pending; an input still being chunked is in progress; refusals are failures."""
    settled = catalog.settled(user, app, [r.request_id for r in requests if r.submitted])
    outcomes: list[InputOutcome] = []
    pending = failed = 0
    for r in requests:
        failed += r.refused
        if not r.submitted:
            continue
        done = settled.get(r.request_id)
        if isinstance(done, list):
            outcomes.extend(done)
        elif done is None:
            pending += r.submitted
        else:  # a dead letter: the whole request was refused
            failed += r.submitted
    busy = [o.input_id for o in outcomes if o.code in _BUSY]
    now = catalog.input_statuses(user, app, busy) if busy else {}
    still = sum(1 for i in busy if now.get(i, (0, ""))[0] in _BUSY)
    late_failed = sum(
        1 for i in busy if now.get(i, (0, ""))[0] not in _BUSY | {StatusCode.INPUT_SUCCESS}
    )
    success = sum(1 for o in outcomes if o.ok and o.code not in _BUSY)
    success += len(busy) - still - late_failed
    failed += sum(1 for o in outcomes if not o.ok) + late_failed
    return Progress(pending, still, success, failed)
