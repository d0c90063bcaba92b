"""Editing a dataset: its description, metadata and default filter, and which stored inputs
belong to it (../shared/reference/datasets-and-versions.md).

Membership changes report per input id, like patches and deletes (`ManageOutcome`): added
(64100 DATASET_INPUT_SUCCESS), already there (64101 DATASET_INPUT_DUPLICATE, not a
failure), removed, not there, or no such input in this app (30102).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.errors import InputError
from pipeline.ingest.inputs import check_metadata
from pipeline.ingest.manage import ManageOutcome, not_found
from pipeline.limits import Limits
from pipeline.patching import PatchAction, patch
from pipeline.status import StatusCode

_KEEP = object()


@dataclass(frozen=True)
class DatasetUpdate:
    """What to change; a field left as None (default_filter: left out) stays as it is."""

    description: str | None = None
    metadata: dict[str, Any] | None = None
    action: PatchAction = PatchAction.MERGE
    default_filter: Any = _KEEP  # a FilterConfig as a dict, or None to clear it

    @property
    def sets_filter(self) -> bool:
        return self.default_filter is not _KEEP

    @property
    def empty(self) -> bool:
        return self.description is None and self.metadata is None and not self.sets_filter

    def new_metadata(self, current: dict[str, Any], limits: Limits) -> dict[str, Any]:
        """The dataset's metadata after the update; InputError when not acceptable."""
        if self.metadata is None:
            return current
        result = patch(self.action, self.metadata, current)
        try:
            return check_metadata(result, limits)
        except InputError as exc:
            raise InputError(
                StatusCode.METADATA_INVALID_PATCH_ARGUMENTS, f"after the update, {exc.message}"
            ) from None


def membership_outcome(input_id: str, *, known: bool, member: bool, adding: bool) -> ManageOutcome:
    """The outcome of adding (or removing) one input, given whether it exists in the app and
    whether it was in the dataset before."""
    if not known:
        return not_found(input_id)
    if adding:
        if member:
            return ManageOutcome(
                input_id, StatusCode.DATASET_INPUT_DUPLICATE, "already in the dataset", "unchanged"
            )
        return ManageOutcome(input_id, StatusCode.DATASET_INPUT_SUCCESS, "", "added")
    if not member:
        return ManageOutcome(input_id, StatusCode.SUCCESS, "was not in the dataset", "unchanged")
    return ManageOutcome(input_id, StatusCode.SUCCESS, "", "removed")
