"""Changing what is stored: patching an input's concepts, metadata and geo, and the outcome of
each input of a patch or delete (../shared/reference/patching.md, manage-inputs.md).

An input's patchable data is the object `{"concepts": [...], "metadata": {...}, "geo": {...}}`;
a patch is an object of the same shape applied with `pipeline.patching.patch`, so `merge`,
`remove` and `overwrite` mean exactly what they mean everywhere else. The result is checked
as an upload would be; an input whose result is not acceptable keeps what it had.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pipeline.errors import InputError
from pipeline.ids import fingerprint
from pipeline.ingest.inputs import check_metadata
from pipeline.limits import Limits
from pipeline.models import Concept, Geo
from pipeline.patching import PatchAction, patch
from pipeline.status import StatusCode

PATCHABLE = ("concepts", "metadata", "geo")
_CONCEPTS = TypeAdapter(list[Concept])


@dataclass(frozen=True)
class InputPatch:
    """What to do to each input: `data` is patched into the input's data with `action`."""

    action: PatchAction
    data: dict[str, Any]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.data) - set(PATCHABLE))
        if unknown:
            raise InputError(
                StatusCode.METADATA_INVALID_PATCH_ARGUMENTS,
                f"only {', '.join(PATCHABLE)} can be patched, not {', '.join(unknown)}",
            )
        if not self.data and self.action is not PatchAction.OVERWRITE:
            raise InputError(
                StatusCode.METADATA_INVALID_PATCH_ARGUMENTS,
                "nothing to patch: give metadata, concepts or geo",
            )


@dataclass(frozen=True)
class PatchedData:
    concepts: list[dict[str, Any]]
    metadata: dict[str, Any]
    geo: dict[str, Any] | None


def apply_patch(change: InputPatch, current: dict[str, Any], limits: Limits) -> PatchedData:
    """The input's concepts, metadata and geo after `change`; InputError if not acceptable."""
    stored = {k: current[k] for k in PATCHABLE if current.get(k) not in (None, [], {})}
    result = patch(change.action, change.data, stored)
    try:
        concepts = [
            c.model_dump(exclude_none=True)
            for c in _CONCEPTS.validate_python(result.get("concepts") or [])
        ]
    except ValidationError as exc:
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT, f"concepts after the patch: {_first(exc)}"
        ) from None
    ids = [c["id"] for c in concepts]
    if len(set(ids)) != len(ids):
        raise InputError(
            StatusCode.INPUT_INVALID_ARGUMENT,
            "concepts after the patch name one id twice; use merge to change a concept's value",
        )
    try:
        metadata = check_metadata(result.get("metadata") or {}, limits)
    except InputError as exc:
        raise InputError(
            StatusCode.METADATA_INVALID_PATCH_ARGUMENTS, f"after the patch, {exc.message}"
        ) from None
    geo = result.get("geo")
    if geo is not None:
        try:
            geo = Geo.model_validate(geo).model_dump()
        except ValidationError as exc:
            raise InputError(
                StatusCode.INPUT_INVALID_ARGUMENT,
                f'geo after the patch must be {{"geo_point": {{"latitude": .., "longitude": ..}}}}'
                f": {_first(exc)}",
            ) from None
    return PatchedData(concepts, metadata, geo)


def patched_fingerprint(old: str, data: PatchedData) -> str:
    """A new fingerprint: sending the original upload again then counts as a change, not as
    `unchanged`, since what is stored is no longer what it sent."""
    return fingerprint(
        {"patched": old, "concepts": data.concepts, "metadata": data.metadata, "geo": data.geo}
    )


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


@dataclass(frozen=True)
class ManageOutcome:
    """What happened to one input id of a patch or delete."""

    input_id: str
    code: StatusCode
    message: str = ""
    action: str = "failed"  # patched | deleted | added | removed | unchanged | failed

    @property
    def ok(self) -> bool:
        return self.action != "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.input_id,
            "action": self.action,
            "code": int(self.code),
            "status": self.code.name,
            "message": self.message,
        }


def overall(outcomes: Sequence[ManageOutcome]) -> StatusCode:
    """SUCCESS when all went well, FAILURE when none did, MIXED_STATUS in between."""
    good = sum(o.ok for o in outcomes)
    if good == len(outcomes):
        return StatusCode.SUCCESS
    return StatusCode.FAILURE if good == 0 else StatusCode.MIXED_STATUS


def not_found(input_id: str) -> ManageOutcome:
    return ManageOutcome(
        input_id,
        StatusCode.INPUT_DOES_NOT_EXIST,
        f"no input {input_id!r} in this app (`ingestd inputs list` shows its inputs)",
    )
