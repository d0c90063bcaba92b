"""Annotations as records of their own: stable ids, what happened to each, and patches.

An annotation without an id gets one derived from its input id and its content, so the same
annotation sent again has the same id and writes nothing. An id names one content: posting
other content under an existing id is refused (40010); changing it is a patch, with the
`merge`, `remove` and `overwrite` of ../shared/reference/patching.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pipeline.annotations import parse_annotation
from pipeline.errors import InputError
from pipeline.ids import check_id, derived_id, fingerprint
from pipeline.models import Annotation
from pipeline.patching import PatchAction, patch
from pipeline.records import AnnotationRecord, input_level_id
from pipeline.status import StatusCode

PATCHABLE = ("data", "status", "task_id", "annotation_info")
"""What a patch may change; the user and model that wrote an annotation, and its input, stay."""


class AnnotationAction(StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    PATCHED = "patched"
    DELETED = "deleted"
    FAILED = "failed"


@dataclass(frozen=True)
class AnnotationOutcome:
    """What happened to one annotation of an add, patch or delete."""

    annotation_id: str
    input_id: str
    action: AnnotationAction
    code: StatusCode
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.action is not AnnotationAction.FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.annotation_id,
            "input_id": self.input_id,
            "action": self.action.value,
            "code": int(self.code),
            "status": self.code.name,
            "message": self.message,
        }


def failed(annotation_id: str, input_id: str, error: InputError) -> AnnotationOutcome:
    return AnnotationOutcome(
        annotation_id, input_id, AnnotationAction.FAILED, error.code, error.message
    )


def annotation_record(
    ann: Annotation, *, user_id: str, app_id: str, input_id: str
) -> AnnotationRecord:
    """The stored record of a checked annotation on `input_id`, by `user_id` unless it names
    a user; its id is the one it gives or one derived from the input and the content."""
    record = AnnotationRecord(
        id=ann.id or "",
        user_id=user_id,
        app_id=app_id,
        input_id=input_id,
        annotation_user_id=ann.user_id or user_id,
        status=ann.status.value,
        data=ann.data.model_dump(mode="json", exclude_none=True, exclude_defaults=True),
        task_id=ann.task_id,
        model_version_id=ann.model_version_id,
        annotation_info=ann.annotation_info,
    )
    if ann.id:
        check_id(ann.id, "annotation id")
    else:
        record.id = derived_id(app_id, input_id, "annotation", fingerprint(content(record)))
    return record


def content(record: AnnotationRecord | dict[str, Any]) -> dict[str, Any]:
    """What an annotation says: equal content means re-posting it is a no-op."""
    get = record.get if isinstance(record, dict) else lambda name: getattr(record, name)
    return {
        "input_id": get("input_id"),
        "annotation_user_id": get("annotation_user_id"),
        "status": get("status"),
        "data": get("data") or {},
        "task_id": get("task_id"),
        "model_version_id": get("model_version_id"),
        "annotation_info": get("annotation_info") or {},
    }


def prepare_annotations(
    items: Iterable[tuple[str, Any]], *, user_id: str, app_id: str
) -> list[AnnotationRecord | AnnotationOutcome]:
    """Each (input id, annotation JSON) checked and made a record, or the failed outcome
    saying why not; in order, so each item keeps its place in the report."""
    out: list[AnnotationRecord | AnnotationOutcome] = []
    for n, (input_id, value) in enumerate(items):
        given = value.get("id") if isinstance(value, dict) else None
        shown = str(given) if given else f"#{n}"
        try:
            check_id(input_id, "input id")
            ann = parse_annotation(value, f"annotation {shown}")
            if ann.data.text is not None:
                raise InputError(
                    StatusCode.ANNOTATION_INVALID_ARGUMENT,
                    f"annotation {shown}: text annotations come from models; "
                    "give concepts, regions or frames",
                )
            out.append(annotation_record(ann, user_id=user_id, app_id=app_id, input_id=input_id))
        except InputError as exc:
            out.append(failed(shown, input_id, exc))
    return out


def patched_record(
    action: PatchAction, change: dict[str, Any], stored: dict[str, Any]
) -> AnnotationRecord:
    """The stored annotation row `stored` after `change`; InputError if the change or its
    result is not acceptable (the annotation then keeps what it had)."""
    unknown = sorted(set(change) - set(PATCHABLE) - {"id", "input_id"})
    if unknown:
        raise InputError(
            StatusCode.ANNOTATION_INVALID_ARGUMENT,
            f"only {', '.join(PATCHABLE)} of an annotation can be patched, "
            f"not {', '.join(unknown)}",
        )
    if change.get("input_id") not in (None, stored["input_id"]):
        raise InputError(
            StatusCode.ANNOTATION_INVALID_ARGUMENT,
            f"annotation {stored['id']!r} is on input {stored['input_id']!r}; an annotation "
            "cannot move to another input (delete it and add it there)",
        )
    before = {k: stored[k] for k in PATCHABLE if stored.get(k) not in (None, {}, [])}
    given = {k: v for k, v in change.items() if k in PATCHABLE}
    # Overwrite, as for inputs: each field the patch names is replaced whole; the rest stay.
    overwrite = action is PatchAction.OVERWRITE
    after = {**before, **given} if overwrite else patch(action, given, before)
    ann = parse_annotation(
        {
            **{k: v for k, v in after.items() if v is not None},
            "id": stored["id"],
            "user_id": stored["annotation_user_id"],
            "model_version_id": stored.get("model_version_id"),
        },
        f"annotation {stored['id']!r} after the patch",
    )
    return annotation_record(
        ann, user_id=stored["user_id"], app_id=stored["app_id"], input_id=stored["input_id"]
    )


def is_input_level(record: dict[str, Any]) -> bool:
    """The annotation holding an input's own concepts: changed with the input, not here."""
    return bool(record["id"] == input_level_id(record["app_id"], record["input_id"]))


def input_level_refused(record: dict[str, Any], verb: str) -> AnnotationOutcome:
    return AnnotationOutcome(
        record["id"],
        record["input_id"],
        AnnotationAction.FAILED,
        StatusCode.ANNOTATION_PERMISSION_DENIED,
        f"annotation {record['id']!r} holds the concepts of input {record['input_id']!r}; "
        f"{verb} them with `ingestd inputs patch {record['input_id']} --concepts ...`",
    )


def not_found(annotation_id: str) -> AnnotationOutcome:
    return AnnotationOutcome(
        annotation_id,
        "",
        AnnotationAction.FAILED,
        StatusCode.CONN_DOES_NOT_EXIST,
        f"no annotation {annotation_id!r} in this app (`ingestd annotations list` shows them)",
    )


def overall(outcomes: Sequence[AnnotationOutcome]) -> StatusCode:
    """SUCCESS when all went well, FAILURE when none did, MIXED_STATUS in between."""
    good = sum(o.ok for o in outcomes)
    if good == len(outcomes):
        return StatusCode.SUCCESS
    return StatusCode.FAILURE if good == 0 else StatusCode.MIXED_STATUS


def as_platform(row: dict[str, Any]) -> dict[str, Any]:
    """A stored annotation in the platform's shape (its `user_id` is the annotation's user)."""
    out = {
        "id": row["id"],
        "input_id": row["input_id"],
        "user_id": row["annotation_user_id"],
        "status": row["status"],
        "data": row["data"] or {},
        "annotation_info": row["annotation_info"] or {},
    }
    for name in ("task_id", "model_version_id", "created_at", "modified_at"):
        if row.get(name) is not None:
            out[name] = row[name]
    return out
