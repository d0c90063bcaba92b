"""Input id conflicts: which id a new input gets when its id is taken (SKIP or SUFFIX), and
what an update replaces.

The reference's extraction jobs: SKIP (default) leaves an existing input with other content
alone; SUFFIX tries "-1" .. "-9", then a random suffix. The same content under an id is not a
conflict (it is the same input again), and a failed input may always be replaced.

An update (`replace`, or a failed input uploaded again) replaces what the earlier upload
brought: the input's annotations by the uploader and by each user the new upload's
annotations name. The reference says nothing of re-uploads; annotations other users added
on their own (`ingestd annotations add`, a review) stay. The catalog does not record which
upload wrote an annotation, so the uploader's own separately added annotations go too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from pipeline.events import UploadRequest
from pipeline.ids import derived_id, suffixed_ids
from pipeline.ingest.ports import ReplacedAnnotations
from pipeline.models import ConflictResolution, Input
from pipeline.records import ExistingInput
from pipeline.status import StatusCode


def resolve_id(
    mode: ConflictResolution,
    requested_id: str,
    fingerprint: str,
    existing: Mapping[str, ExistingInput],
    taken: set[str],
) -> tuple[str | None, ExistingInput | None]:
    """(id to write, the input already there); an id of None means skip this input.

    `existing` holds the catalog's inputs among the candidate ids, `taken` the ids earlier
    inputs of the same request already claimed.
    """
    ids: Iterable[str] = [requested_id]
    if mode is ConflictResolution.SUFFIX:
        ids = _chain(requested_id, suffixed_ids(requested_id))
    first_prior: ExistingInput | None = None
    for candidate in ids:
        if candidate in taken:
            continue
        prior = existing.get(candidate)
        if prior is None:
            return candidate, None
        first_prior = first_prior or prior
        if prior.fingerprint == fingerprint or prior.status_code != StatusCode.INPUT_SUCCESS:
            return candidate, prior
        if mode is ConflictResolution.SKIP:
            break
    return None, first_prior


def requested_ids(request: UploadRequest) -> list[str]:
    """The id each input of a request asks for: its own, else one derived from its place."""
    return [
        item.id or derived_id(request.request_id, str(index))
        for index, item in enumerate(request.inputs)
    ]


def candidate_ids(mode: ConflictResolution, requested: Iterable[str]) -> set[str]:
    """Every id `resolve_id` may look at without a random suffix, for one catalog lookup."""
    wanted = set(requested)
    if mode is ConflictResolution.SUFFIX:
        wanted.update(f"{i}-{n}" for i in list(wanted) for n in range(1, 10))
    return wanted


def replaced_annotations(request: UploadRequest, item: Input, input_id: str) -> ReplacedAnnotations:
    """What the update of `input_id` by `item` replaces (see the module docstring)."""
    users = {request.user_id, *(a.user_id or request.user_id for a in item.annotations)}
    return ReplacedAnnotations(input_id, frozenset(users))


def _chain(first: str, rest: Iterable[str]) -> Iterator[str]:
    yield first
    yield from rest
