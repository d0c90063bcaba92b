"""Dataset annotation filters: which annotations of a dataset's inputs a version keeps.

A filter never changes which inputs belong to a dataset; it picks their annotations
(../shared/reference/datasets-and-versions.md, "Dataset Annotation Filters"). A dataset has
a default filter config; a version request may override it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field, ValidationError

from pipeline.events import AnnotationFilter, SnapshotRequest
from pipeline.models import AnnotationStatus, Strict

KNOWN_STATUSES = tuple(s.value for s in AnnotationStatus)


class FilterConfigError(ValueError):
    """A filter that cannot be applied (unknown field, unknown status, contradiction)."""


class FilterConfig(Strict):
    """annotation_filter_config of the reference: the filter plus ignore_empty_inputs."""

    annotation_filter: AnnotationFilter = Field(default_factory=AnnotationFilter)
    ignore_empty_inputs: bool = False


def parse_filter_config(raw: Any, where: str) -> FilterConfig:
    """A stored or typed-in filter config, checked; FilterConfigError says what is wrong."""
    if raw is None:
        return FilterConfig()
    if isinstance(raw, FilterConfig):
        config = raw
    elif isinstance(raw, dict):
        # Accept a bare filter too ({"user_ids": [...]}), as people type it.
        if raw and not set(raw) & {"annotation_filter", "ignore_empty_inputs"}:
            raw = {"annotation_filter": raw}
        try:
            config = FilterConfig.model_validate(raw)
        except ValidationError as exc:
            raise FilterConfigError(f"{where}: {_explain(exc)}") from None
    else:
        raise FilterConfigError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    check_filter(config.annotation_filter, where)
    return config


def check_filter(f: AnnotationFilter, where: str) -> None:
    unknown = [s for s in f.statuses if s not in KNOWN_STATUSES]
    if unknown:
        raise FilterConfigError(
            f"{where}: unknown annotation status {', '.join(map(repr, unknown))}; "
            f"use {', '.join(KNOWN_STATUSES)}"
        )
    if f.ground_truth_only and f.predictions_only:
        raise FilterConfigError(
            f"{where}: ground_truth_only and predictions_only exclude each other; keep one"
        )
    if f.ground_truth_only and f.model_version_ids:
        raise FilterConfigError(
            f"{where}: model_version_ids selects predictions, which ground_truth_only drops"
        )


def effective_config(request: SnapshotRequest, dataset_default: Any) -> FilterConfig:
    """The request's filter when given, else the dataset's default; same for ignore_empty."""
    default = parse_filter_config(dataset_default, "the dataset's default filter")
    if request.annotation_filter is not None:
        check_filter(request.annotation_filter, "the version's annotation filter")
        chosen = request.annotation_filter
    else:
        chosen = default.annotation_filter
    ignore = (
        default.ignore_empty_inputs
        if request.ignore_empty_inputs is None
        else request.ignore_empty_inputs
    )
    return FilterConfig(annotation_filter=chosen, ignore_empty_inputs=ignore)


class AnnotationSelector:
    """Applies one AnnotationFilter to annotation rows (dicts with the manifest's keys)."""

    def __init__(self, f: AnnotationFilter) -> None:
        self.statuses = frozenset(f.statuses)
        self.user_ids = frozenset(f.user_ids)
        self.model_versions = frozenset(f.model_version_ids)
        self.ground_truth_only = f.ground_truth_only
        self.predictions_only = f.predictions_only
        self.everything = not (
            self.statuses
            or self.user_ids
            or self.model_versions
            or self.ground_truth_only
            or self.predictions_only
        )

    def keeps(self, ann: dict[str, Any]) -> bool:
        if self.everything:
            return True
        if self.statuses and ann["status"] not in self.statuses:
            return False
        if self.user_ids and ann["user_id"] not in self.user_ids:
            return False
        model = ann.get("model_version_id")
        if model is None:
            return not self.predictions_only
        if self.ground_truth_only:
            return False
        return not self.model_versions or model in self.model_versions

    def select(self, annotations: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [a for a in annotations if self.keeps(a)]


def is_empty_annotation(data: dict[str, Any]) -> bool:
    """No concepts (positive or negative), regions, frames or text: labels nothing."""
    return not (
        data.get("concepts") or data.get("regions") or data.get("frames") or data.get("text")
    )


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            known = ", ".join(AnnotationFilter.model_fields)
            parts.append(f"unknown field {loc!r} (a filter knows {known}; and ignore_empty_inputs)")
        else:
            parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
