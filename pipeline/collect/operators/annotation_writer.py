"""Annotation writer: turn the predictions reaching it into annotations with a given status."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from pipeline.collect.operators.base import Operator, OperatorParams
from pipeline.collect.operators.datum import Datum, RunContext
from pipeline.models import Annotation, AnnotationData, AnnotationStatus, Text

WRITABLE = (
    AnnotationStatus.SUCCESS,
    AnnotationStatus.PENDING,
    AnnotationStatus.AWAITING_REVIEW,
    AnnotationStatus.AWAITING_CONSENSUS_REVIEW,
)


def as_annotations(
    datum: Datum,
    *,
    status: AnnotationStatus = AnnotationStatus.SUCCESS,
    user_id: str | None = None,
    task_id: str | None = None,
    info: dict[str, Any] | None = None,
) -> list[Annotation]:
    """Concepts as one annotation, each region as its own, text as one (the reference's shapes)."""
    common: dict[str, Any] = {
        "status": status,
        "user_id": user_id or None,
        "task_id": task_id or None,
        "model_version_id": datum.model_version_id,
        "annotation_info": dict(info or {}),
    }
    out: list[Annotation] = []
    if datum.concepts:
        out.append(Annotation(data=AnnotationData(concepts=datum.concepts), **common))
    for region in datum.regions:
        out.append(Annotation(data=AnnotationData(regions=[region]), **common))
    if datum.text:
        out.append(Annotation(data=AnnotationData(text=Text(raw=datum.text)), **common))
    return out


class AnnotationWriterParams(OperatorParams):
    annotation_status: AnnotationStatus = AnnotationStatus.SUCCESS
    annotation_user_id: str = Field(default="", description="Written as if by this user.")
    task_id: str = Field(default="", description="The labeling task the work belongs to.")
    annotation_info: dict[str, Any] = Field(default_factory=dict)

    @field_validator("annotation_status")
    @classmethod
    def _writable(cls, value: AnnotationStatus) -> AnnotationStatus:
        if value not in WRITABLE:
            raise ValueError(f"annotation_status must be one of {', '.join(WRITABLE)}")
        return value


class AnnotationWriter(Operator):
    name = "annotation-writer"
    summary = "write the predictions reaching it as annotations (status, user, task, info)"
    Params = AnnotationWriterParams
    p: AnnotationWriterParams

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        written = as_annotations(
            datum,
            status=self.p.annotation_status,
            user_id=self.p.annotation_user_id,
            task_id=self.p.task_id,
            info=self.p.annotation_info,
        )
        return datum.replace(annotations=[*datum.annotations, *written], written=True)
