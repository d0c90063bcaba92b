"""Annotation filter options shared by `datasets versions create` and `datasets filter set`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import typer

from pipeline.events import AnnotationFilter
from pipeline.snapshot.filter import KNOWN_STATUSES, FilterConfigError, parse_filter_config

StatusOpt = typer.Option(
    None,
    "--status",
    help=f"Keep annotations with this status (repeatable): {', '.join(KNOWN_STATUSES)}.",
)
LabelerOpt = typer.Option(
    None, "--labeler", help="Keep annotations by this user id (repeatable): one labeler's work."
)
ModelOpt = typer.Option(
    None, "--model-version", help="Keep predictions only from this model version (repeatable)."
)
GroundTruthOpt = typer.Option(
    False, "--ground-truth-only", help="Drop predictions: keep human-written annotations."
)
PredictionsOpt = typer.Option(
    False, "--predictions-only", help="Drop ground truth: keep model-written annotations."
)
FilterJsonOpt = typer.Option(
    None,
    "--filter",
    help='Whole filter config as JSON, e.g. \'{"annotation_filter": {"user_ids": ["ann"]}, '
    '"ignore_empty_inputs": true}\'; unknown fields are refused.',
)
IgnoreEmptyOpt = typer.Option(
    None,
    "--ignore-empty-inputs/--keep-empty-inputs",
    help="Leave out inputs without a selected annotation (default: the dataset's setting).",
)


@dataclass
class FilterArgs:
    """The filter options as given (a command takes them with `@grouped(filters=FilterArgs)`)."""

    statuses: list[str] | None = StatusOpt
    labelers: list[str] | None = LabelerOpt
    model_versions: list[str] | None = ModelOpt
    ground_truth_only: bool = GroundTruthOpt
    predictions_only: bool = PredictionsOpt
    filter_json: str | None = FilterJsonOpt
    ignore_empty: bool | None = IgnoreEmptyOpt

    @property
    def given(self) -> bool:
        return bool(
            self.statuses
            or self.labelers
            or self.model_versions
            or self.ground_truth_only
            or self.predictions_only
            or self.filter_json
        )

    def build(self) -> tuple[AnnotationFilter | None, bool | None]:
        """(filter, ignore_empty_inputs) from the options; None where nothing was said.

        Raises FilterConfigError with a message for the user.
        """
        ignore = self.ignore_empty
        if self.filter_json:
            try:
                raw: Any = json.loads(self.filter_json)
            except ValueError as exc:
                raise FilterConfigError(f"--filter is not valid JSON: {exc}") from None
            config = parse_filter_config(raw, "--filter")
            base = config.annotation_filter
            if ignore is None and isinstance(raw, dict) and "ignore_empty_inputs" in raw:
                ignore = config.ignore_empty_inputs
        elif self.given:
            base = AnnotationFilter()
        else:
            return None, ignore
        f = base.model_copy(
            update={
                "statuses": [*base.statuses, *(self.statuses or [])],
                "user_ids": [*base.user_ids, *(self.labelers or [])],
                "model_version_ids": [*base.model_version_ids, *(self.model_versions or [])],
                "ground_truth_only": base.ground_truth_only or self.ground_truth_only,
                "predictions_only": base.predictions_only or self.predictions_only,
            }
        )
        parse_filter_config({"annotation_filter": f.model_dump()}, "the filter options")
        return f, ignore


def describe_filter(config: dict[str, Any] | None) -> str:
    """One line a person can read: what the filter keeps."""
    if not config:
        return "every annotation; empty inputs kept"
    f = config.get("annotation_filter") or {}
    parts = []
    if f.get("statuses"):
        parts.append("status " + "|".join(f["statuses"]))
    if f.get("user_ids"):
        parts.append("by " + "|".join(f["user_ids"]))
    if f.get("ground_truth_only"):
        parts.append("ground truth only")
    if f.get("predictions_only"):
        parts.append("predictions only")
    if f.get("model_version_ids"):
        parts.append("predictions of " + "|".join(f["model_version_ids"]))
    kept = ", ".join(parts) or "every annotation"
    empty = "empty inputs left out" if config.get("ignore_empty_inputs") else "empty inputs kept"
    return f"{kept}; {empty}"
