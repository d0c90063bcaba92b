"""Inputs-add jobs: which upload requests a PostInputs job id stands for, and their progress.

The catalog records what each request did (processed events, dead letters); this registry
only remembers, in memory and for a bounded number of jobs, which requests belong to a job
id, so GetInputsAddJob answers for jobs this server took.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from pipeline.records import InputOutcome

_MAX_JOBS = 10_000


@dataclass
class Job:
    id: str
    user_id: str
    app_id: str
    request_ids: list[str] = field(default_factory=list)
    submitted: int = 0  # inputs handed to the ingest stage
    refused: list[InputOutcome] = field(default_factory=list)  # refused before it


@dataclass(frozen=True)
class Progress:
    pending: int
    in_progress: int
    success: int
    failed: int

    @property
    def done(self) -> bool:
        return self.pending == 0 and self.in_progress == 0


class JobRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[tuple[str, str, str], Job] = OrderedDict()

    def add(
        self,
        user_id: str,
        app_id: str,
        job_id: str,
        request_id: str | None,
        submitted: int,
        refused: list[InputOutcome],
    ) -> Job:
        """Record a request (None: nothing was submitted) under the job; a job id posted
        again gathers every request sent with it."""
        with self._lock:
            key = (user_id, app_id, job_id)
            job = self._jobs.get(key) or Job(job_id, user_id, app_id)
            if request_id is not None and request_id not in job.request_ids:
                job.request_ids.append(request_id)
                job.submitted += submitted
            job.refused.extend(refused)
            self._jobs[key] = job
            self._jobs.move_to_end(key)
            while len(self._jobs) > _MAX_JOBS:
                self._jobs.popitem(last=False)
            return job

    def get(self, user_id: str, app_id: str, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get((user_id, app_id, job_id))
