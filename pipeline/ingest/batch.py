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
from pipeline.ingest.ports import IngestCatalog, InputsChanged
from pipeline.ingest.results import IngestResult, Prepared, Scratch

log = logging.getLogger(__name__)


class _Stage(Protocol):
    """What of `IngestStage` a batch uses."""

    catalog: IngestCatalog

    def check(self, request: UploadRequest) -> None: ...

    def scratch(self) -> AbstractContextManager[Scratch]: ...

    def prepare(self, request: UploadRequest, scratch: Scratch) -> Prepared | IngestResult: ...


def handle_batch(stage: _Stage, requests: Sequence[UploadRequest]) -> list[IngestResult | None]:
    """The result of each request, or None for one the transport must hand to `handle`."""
    results: list[IngestResult | None] = [None] * len(requests)
    ready: list[tuple[int, Prepared]] = []
    # Blobs of requests that end up not committed are left to `ingestd gc`, as in `handle`.
    with stage.scratch() as scratch:
        claimed: set[tuple[str, ...]] = set()
        for n, request in enumerate(requests):
            claims = _claims(request)
            earlier = not claims.isdisjoint(claimed)
            claimed |= claims  # also when it goes alone: later ones must wait for it too
            if earlier:
                continue
            try:
                stage.check(request)
                got = stage.prepare(request, scratch)
            except TransientError:
                raise
            except Exception as exc:  # this request's own problem: delivered alone
                log.info("request %s goes alone: %s", request.request_id, exc)
                continue
            if isinstance(got, IngestResult):
                results[n] = got
            else:
                ready.append((n, got))
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


def _alone(results: list[IngestResult | None], why: str) -> list[IngestResult | None]:
    log.warning("batch transaction failed, committing its requests one by one: %s", why)
    # Replayed requests wrote nothing: their results stand.
    return [r if r is not None and r.replayed else None for r in results]


def _claims(request: UploadRequest) -> set[tuple[str, ...]]:
    """The request id and every input id the request may write (as the plan resolves them)."""
    tenant = (request.user_id, request.app_id)
    ids = candidate_ids(request.conflict_resolution, requested_ids(request))
    return {(*tenant, "request", request.request_id)} | {(*tenant, "input", i) for i in ids}
