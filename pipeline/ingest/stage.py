"""The ingest stage: what happens to an upload request.

validate each input → resolve its id (SKIP / SUFFIX) → write media blobs → one catalog
transaction with the records, annotations, dataset memberships and the processed request
id. A bad input gets a failed status and the batch goes on; a replayed request writes
nothing new; a transient storage error propagates so the transport retries the request.
An input over a limit that splitting can fix is stored whole as `pending` and handed to
the media stage as a MediaTask follow-up (pipeline/media_tasks.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import InputError
from pipeline.events import UploadRequest
from pipeline.ids import check_id, check_tenant, fingerprint
from pipeline.ingest.batch import handle_batch
from pipeline.ingest.conflicts import (
    candidate_ids,
    replaced_annotations,
    requested_ids,
    resolve_id,
)
from pipeline.ingest.inputs import (
    PreparedInput,
    annotations_of,
    dataset_ids_of,
    prepare_input,
    stamp_lineage,
)
from pipeline.ingest.media_tasks import reemit
from pipeline.ingest.plans import Plan, pending_plan
from pipeline.ingest.ports import (
    IngestCatalog,
    InputsChanged,
    Known,
    UploadCommit,
)
from pipeline.ingest.results import IngestResult, Prepared, Scratch, open_scratch
from pipeline.limits import Limits
from pipeline.media.ports import MediaCatalog
from pipeline.models import Input, MediaType
from pipeline.ports import BlobStore, Fetcher
from pipeline.records import (
    Action,
    ExistingInput,
    InputOutcome,
    InputRecord,
    add_job_of,
)
from pipeline.stage import FollowUp
from pipeline.status import StatusCode

log = logging.getLogger(__name__)
_PLANS = 8  # plans of one request before its conflicts count as a transient failure


@dataclass(eq=False)
class IngestStage:
    """Turns UploadRequests into stored inputs. Both transports call `handle`."""

    name = "ingest"
    event_type = UploadRequest

    blobs: BlobStore
    catalog: IngestCatalog
    fetcher: Fetcher
    limits: Limits = field(default_factory=Limits)
    blob_concurrency: int = 8
    media_catalog: MediaCatalog | None = None  # to re-emit MediaTasks of replayed requests

    def handle(self, request: UploadRequest) -> IngestResult:
        self.check(request)
        # A request that loses a race for an id may leave a blob it wrote that no input
        # references. It is not removed here: another request of the app holding the same
        # bytes under another id may be about to commit a reference to that very key (keys
        # are content-addressed), and no check-then-delete can exclude that. `ingestd gc`
        # removes it once it is older than its grace period and still unreferenced.
        for _ in range(_PLANS):
            try:
                with self.scratch() as scratch:
                    ready = self.prepare(request, scratch)
                if isinstance(ready, IngestResult):
                    return ready
                self.catalog.commit_upload(ready.commit)
                return ready.result
            except InputsChanged as exc:
                # Another worker wrote one of these ids (or this request) first: plan
                # again against what it stored, as if this request had come second.
                log.info("request %s: %s; planning again", request.request_id, exc.message)
        raise InputsChanged(f"request {request.request_id}: its input ids kept changing under it")

    def handle_batch(self, requests: Sequence[UploadRequest]) -> list[IngestResult | None]:
        """Several requests, one catalog transaction (pipeline/ingest/batch.py)."""
        return handle_batch(self, requests)

    def check(self, request: UploadRequest) -> None:
        """InputError for a request that cannot be processed at all."""
        check_tenant(request.user_id, request.app_id)
        if len(request.inputs) > self.limits.batch_inputs:
            raise InputError(
                StatusCode.INPUT_INVALID_REQUEST,
                f"request {request.request_id} has {len(request.inputs)} inputs; at most "
                f"{self.limits.batch_inputs} per request (the importers batch automatically)",
            )

    def __post_init__(self) -> None:
        # One pool for the stage's life: threads started per batch cost more than the
        # writes of small blobs.
        self._writers = ThreadPoolExecutor(max(1, self.blob_concurrency), "blob-writer")

    def close(self) -> None:
        self._writers.shutdown()

    def scratch(self) -> AbstractContextManager[Scratch]:
        """The blob writers and a work directory, for one request or a batch of them."""
        return open_scratch(self._writers)

    def prepare(
        self, request: UploadRequest, scratch: Scratch, known: Known | None = None
    ) -> Prepared | IngestResult:
        """Plan and write blobs: what to commit, or the result of a request already
        processed. Given `known` (a batch's one look-up), the blob writes are left running
        (`Prepared.uploads`): the batch waits for all of them before its commit."""
        alone = known is None
        if known is None:
            wanted = candidate_ids(request.conflict_resolution, requested_ids(request))
            known = self.catalog.known(
                request.user_id, request.app_id, [request.request_id], wanted
            )
        prior = known.processed.get(request.request_id)
        if prior is not None:
            # Tasks of inputs still pending may have been lost in a crash before publishing.
            again: list[FollowUp] = list(reemit(request, prior, self.media_catalog))
            return IngestResult(request.request_id, prior, replayed=True, follow_ups=again)

        existing = known.existing
        # Uploads start as soon as an input is decided, overlapping with the decoding of the
        # next ones; every one must finish before the catalog commit.
        uploads: list[Future[None]] = []
        spools = _spools(request)
        try:
            plans = self._plan(
                request,
                lambda key, src: uploads.append(scratch.write(self._put, key, src)),
                scratch.workdir if spools else None,
                existing,
            )
            for upload in uploads if alone else ():
                upload.result()  # re-raises a storage failure for the transport
        finally:
            if alone or spools:
                wait(uploads)
                scratch.clear()  # its large files are uploaded: the next request starts empty
        records = [p.record for p in plans if p.record is not None]
        outcomes = [p.outcome for p in plans]
        replaced = [
            p.outcome.input_id
            for p in plans
            if p.outcome.action is Action.UPDATED and p.task is None
        ]
        if replaced and self.media_catalog is not None:
            # Before the commit: once the request counts as processed a retry would not come
            # back here, and forgetting twice is harmless.
            self.media_catalog.forget_chunks(request.user_id, request.app_id, replaced)
        seen = {r.id: existing[r.id].fingerprint if r.id in existing else None for r in records}
        commit = UploadCommit(
            request.user_id,
            request.app_id,
            request.request_id,
            records,
            [a for p in plans for a in p.annotations],
            outcomes,
            [p.outcome for p in plans if p.refused],
            seen,
            replaced=[p.replaces for p in plans if p.replaces is not None],
            add_job=add_job_of(request.run_id, request.job_id),
        )
        tasks: list[FollowUp] = [p.task for p in plans if p.task is not None]
        result = IngestResult(
            request.request_id, outcomes, blobs_written=len(uploads), follow_ups=tasks
        )
        return Prepared(commit, result, uploads)

    def _put(self, key: str, src: bytes | Path) -> None:
        # Written even when present (same key, same bytes): the write makes the blob new
        # again, so `ingestd gc`, which removes only blobs older than its grace period that
        # nothing references, cannot remove it before this upload's records are committed.
        if isinstance(src, bytes):
            self.blobs.put(key, src)
        else:
            self.blobs.put_file(key, src)

    # -- planning ---------------------------------------------------------------------

    def _plan(
        self,
        request: UploadRequest,
        write: Callable[[str, bytes | Path], None],
        workdir: Path | None,
        existing: Mapping[str, ExistingInput],
    ) -> list[Plan]:
        requested = requested_ids(request)
        taken: set[str] = set()
        plans: list[Plan] = []
        batch_bytes = 0
        videos = 0
        for index, item in enumerate(request.inputs):
            ready: PreparedInput | InputError
            try:
                self._check_request_share(item, videos)
                ready = prepare_input(
                    item,
                    requested[index],
                    user_id=request.user_id,
                    app_id=request.app_id,
                    blobs=self.blobs,
                    fetcher=self.fetcher,
                    limits=self.limits,
                    workdir=workdir,
                )
                # The batch limit bounds the bytes a request holds in memory: an oversized
                # input becomes chunks that each fit, and a large medium (a URL body, a big
                # blob) is a file in the work directory, uploaded from there.
                size = 0 if ready.oversized or ready.path else ready.record.size or 0
                if size and batch_bytes + size >= self.limits.batch_bytes:
                    raise InputError(
                        StatusCode.INPUT_OVER_LIMIT,
                        f"the request reached the {self.limits.batch_bytes / 2**20:.0f} MB batch "
                        "limit before this input; send it in another request",
                    )
                batch_bytes += size
                videos += ready.record.media_type == MediaType.VIDEO.value
            except InputError as exc:
                ready = exc
            plan = self._decide(request, index, item, requested[index], ready, existing, taken)
            if plan.record is not None and plan.record.blob_key:
                if plan.data is not None:
                    write(plan.record.blob_key, plan.data)
                    plan.data = None  # the upload holds the bytes now; let them go when done
                elif plan.path is not None:
                    write(plan.record.blob_key, plan.path)
            plans.append(plan)
        return plans

    def _check_request_share(self, item: Input, videos: int) -> None:
        if item.data.video is not None and videos >= self.limits.videos_per_request:
            raise InputError(
                StatusCode.INPUT_VIDEO_INVALID_ARGUMENT,
                f"a request may carry {self.limits.videos_per_request} video input(s); "
                "send each further video in its own request",
            )

    def _decide(
        self,
        request: UploadRequest,
        index: int,
        item: Input,
        requested_id: str,
        ready: PreparedInput | InputError,
        existing: Mapping[str, ExistingInput],
        taken: set[str],
    ) -> Plan:
        if isinstance(ready, InputError):
            return self._failed(request, index, requested_id, ready, existing, taken)
        record = ready.record
        chosen: str | None
        if item.replace and requested_id not in taken:
            chosen, prior = requested_id, existing.get(requested_id)  # an update, by request
        else:
            chosen, prior = resolve_id(
                request.conflict_resolution, requested_id, record.fingerprint, existing, taken
            )
        if chosen is None:
            where = "exists" if prior is not None else "appears earlier in this request"
            return Plan(
                InputOutcome(
                    index,
                    requested_id,
                    requested_id,
                    Action.SKIPPED,
                    StatusCode.DATABASE_DUPLICATE_KEY,
                    f"input id {requested_id!r} {where} with other content; skipped "
                    "(conflict resolution SKIP; use SUFFIX to keep both)",
                )
            )
        taken.add(chosen)
        record.id = chosen
        record.request_id = request.request_id
        record.job_id = request.job_id
        record.source = request.source
        stamp_lineage(record, request.run_id, item.lineage)
        try:
            record.dataset_ids = dataset_ids_of(request.dataset_ids, item.dataset_ids)
            annotations = annotations_of(request.user_id, item, record)
        except InputError as exc:
            return self._failed(request, index, requested_id, exc, existing, taken)
        if ready.oversized:
            plan = pending_plan(request, index, item, requested_id, ready, prior)
            if plan.outcome.action is Action.UPDATED:
                plan.replaces = replaced_annotations(request, item, chosen)
            return plan
        if prior is not None and prior.fingerprint == record.fingerprint:
            # Same content under this id: nothing to write but dataset memberships.
            outcome = InputOutcome(
                index, requested_id, chosen, Action.UNCHANGED, StatusCode.INPUT_SUCCESS
            )
            return Plan(outcome, record=record)
        action = Action.UPDATED if prior is not None else Action.CREATED
        outcome = InputOutcome(index, requested_id, chosen, action, StatusCode.INPUT_SUCCESS)
        replaces = replaced_annotations(request, item, chosen) if prior is not None else None
        return Plan(
            outcome,
            record=record,
            data=ready.data,
            path=ready.path,
            annotations=annotations,
            replaces=replaces,
        )

    def _failed(
        self,
        request: UploadRequest,
        index: int,
        requested_id: str,
        error: InputError,
        existing: Mapping[str, ExistingInput],
        taken: set[str],
    ) -> Plan:
        outcome = InputOutcome(
            index, requested_id, requested_id, Action.FAILED, error.code, error.message
        )
        prior = existing.get(requested_id)
        writable = requested_id not in taken and (
            prior is None or prior.status_code != StatusCode.INPUT_SUCCESS
        )
        try:
            check_id(requested_id)
        except InputError:
            # An id we refuse is never a key of `inputs`; it is listed as a refusal instead.
            return Plan(outcome, refused=True)
        if not writable:
            # Never let a failed retry overwrite a good input; report it only.
            return Plan(outcome)
        taken.add(requested_id)
        record = InputRecord(
            user_id=request.user_id,
            app_id=request.app_id,
            id=requested_id,
            media_type=None,
            status_code=error.code,
            status_message=error.message,
            fingerprint=fingerprint({"failed": error.message}),
            request_id=request.request_id,
            job_id=request.job_id,
            source=request.source,
        )
        stamp_lineage(record, request.run_id, request.inputs[index].lineage)
        return Plan(outcome, record=record)


def _spools(request: UploadRequest) -> bool:
    """Whether the request may use the work directory: fetched URLs and stored blobs may be
    files there, video and audio are checked from a file (pipeline/ingest/); inline text and
    images never touch it."""
    for item in request.inputs:
        data = item.data
        if data.video is not None or data.audio is not None:
            return True
        for source in (data.image, data.text):
            if source is not None and (source.url or source.blob_key):
                return True
    return False
