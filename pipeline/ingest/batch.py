"""Several upload requests in one catalog transaction (what a transport takes at once).

Each request is planned and its blobs written as `IngestStage.handle` would; then the
commits of all of them go into one transaction. What the batch cannot take is left to the
transport to hand to `handle` alone, in order, after the batch: a request that cannot be
planned (an `InputError`, a bug), one that touches an input id (or repeats the request id)
of an earlier request of the batch — so requests for one id stay in order — and, when the
batch transaction fails for one request's reason (an id another worker took meanwhile, a
row the database refuses), every request of it: one by one, the good ones are stored and
the bad one is retried or dead-lettered alone. A `TransientError` (the database or the blob
store away) commits nothing and propagates: the transport retries the batch whole.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from pipeline.errors import TransientError
from pipeline.events import UploadRequest
from pipeline.ingest.conflicts import candidate_ids, requested_ids
from pipeline.ingest.ports import IngestCatalog, InputsChanged, Known
from pipeline.ingest.results import IngestResult, Prepared, Scratch

log = logging.getLogger(__name__)


class _Stage(Protocol):
    """What of `IngestStage` a batch uses."""

    catalog: IngestCatalog

    def check(self, request: UploadRequest) -> None: ...

    def scratch(self) -> AbstractContextManager[Scratch]: ...

    def prepare(
        self, request: UploadRequest, scratch: Scratch, known: Known | None = None
    ) -> Prepared | IngestResult: ...


def handle_batch(stage: _Stage, requests: Sequence[UploadRequest]) -> list[IngestResult | None]:
    """The result of each request, or None for one the transport must hand to `handle`."""
    results: list[IngestResult | None] = [None] * len(requests)
    planned = _in_batch(stage, requests)
    known = _look_up(stage.catalog, [(requests[n], ids) for n, ids in planned])
    ready: list[tuple[int, Prepared]] = []
    # Blobs of requests that end up not committed are left to `ingestd gc`, as in `handle`.
    with stage.scratch() as scratch:
        for n, _ids in planned:
            request = requests[n]
            try:
                got = stage.prepare(request, scratch, known[request.user_id, request.app_id])
            except TransientError:
                raise
            except Exception as exc:  # this request's own problem: delivered alone
                log.info("request %s goes alone: %s", request.request_id, exc)
                continue
            if isinstance(got, IngestResult):
                results[n] = got
            else:
                ready.append((n, got))
        # The requests' blob writes ran side by side; all are done before the commit.
        ready = [(n, p) for n, p in ready if _written(requests[n], p)]
    if ready:
        try:
            stage.catalog.commit_uploads([p.commit for _, p in ready])
        except InputsChanged as exc:
            return _alone(results, f"a request's ids changed meanwhile ({exc.message})")
        except TransientError:
            raise
        except Exception as exc:  # a row the database refuses: whose, one by one tells
            return _alone(results, f"{type(exc).__name__}: {exc}")
    for n, prepared in ready:
        results[n] = prepared.result
    return results


def _in_batch(stage: _Stage, requests: Sequence[UploadRequest]) -> list[tuple[int, set[str]]]:
    """The requests the batch plans (with the ids each may write): not those that touch an
    id of an earlier one, nor those `check` refuses; they go alone."""
    planned: list[tuple[int, set[str]]] = []
    claimed: set[tuple[str, ...]] = set()
    for n, request in enumerate(requests):
        ids = candidate_ids(request.conflict_resolution, requested_ids(request))
        claims = _claims(request, ids)
        earlier = not claims.isdisjoint(claimed)
        claimed |= claims  # also when it goes alone: later ones must wait for it too
        if earlier:
            continue
        try:
            stage.check(request)
        except Exception as exc:
            log.info("request %s goes alone: %s", request.request_id, exc)
            continue
        planned.append((n, ids))
    return planned


def _look_up(
    catalog: IngestCatalog, planned: list[tuple[UploadRequest, set[str]]]
) -> dict[tuple[str, str], Known]:
    """One catalog look-up per app for the whole batch: which requests were processed
    already, which of their input ids exist."""
    wanted: dict[tuple[str, str], tuple[list[str], set[str]]] = {}
    for request, ids in planned:
        events, inputs = wanted.setdefault((request.user_id, request.app_id), ([], set()))
        events.append(request.request_id)
        inputs |= ids
    return {
        (user, app): catalog.known(user, app, events, inputs)
        for (user, app), (events, inputs) in wanted.items()
    }


def _written(request: UploadRequest, prepared: Prepared) -> bool:
    """Whether the request's blobs were written (a storage outage raises: the batch is
    retried whole); a request whose write failed otherwise goes alone."""
    for upload in prepared.uploads:
        try:
            upload.result()
        except TransientError:
            raise
        except Exception as exc:
            log.info("request %s goes alone: %s", request.request_id, exc)
            return False
    return True


def _alone(results: list[IngestResult | None], why: str) -> list[IngestResult | None]:
    log.warning("batch transaction failed, committing its requests one by one: %s", why)
    # Replayed requests wrote nothing: their results stand.
    return [r if r is not None and r.replayed else None for r in results]


def _claims(request: UploadRequest, ids: set[str]) -> set[tuple[str, ...]]:
    """The request id and every input id the request may write (as the plan resolves them)."""
    tenant = (request.user_id, request.app_id)
    return {(*tenant, "request", request.request_id)} | {(*tenant, "input", i) for i in ids}
