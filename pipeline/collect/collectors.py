"""What a collector is: the platform's fields, their rules, and how a PATCH changes them.

A collector lives in its destination app. When `caller_user_id` (blank: anyone) predicts
with the source model, the input is captured into that app: sampled and filtered by the
pre-queue workflow on the model's output, enriched by the post-queue workflow on the input.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import Field, ValidationError, model_validator

from pipeline.errors import InputError
from pipeline.ids import check_id
from pipeline.keys import ApiKey, Scope, has_scope
from pipeline.models import Strict
from pipeline.patching import PatchAction, patch
from pipeline.status import StatusCode

INVALID = StatusCode.CONN_INVALID_REQUEST


class CollectorStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class ApiPostModelOutputsCollectorSource(Strict):
    """Collect what `caller_user_id` sends to this model (blank caller: every caller)."""

    model_user_id: str = Field(min_length=1)
    model_app_id: str = Field(min_length=1)
    model_id: str = Field(min_length=1)
    model_version_id: str = Field(default="", description="Blank: every version of the model.")
    post_inputs_key_id: str = Field(min_length=1, description="Key with the PostInputs scope.")
    caller_user_id: str = Field(default="", description="Blank: collect from every caller.")


# The source's fields, flat in catalog rows and CLI options.
SOURCE_FIELDS = tuple(ApiPostModelOutputsCollectorSource.model_fields)


class CollectorSource(Strict):
    api_post_model_outputs_collector_source: ApiPostModelOutputsCollectorSource


class Collector(Strict):
    id: str
    description: str = ""
    created_at: datetime | None = None
    pre_queue_workflow_id: str = ""
    pre_queue_random_sample: float | None = Field(
        default=None, gt=0.0, le=1.0, description="Fraction kept before the pre-queue workflow."
    )
    post_queue_workflow_id: str = ""
    collector_source: CollectorSource
    status: CollectorStatus = CollectorStatus.ACTIVE
    collect_outputs: bool = Field(
        default=False, description="Write the model's outputs as annotations on the capture."
    )
    dataset_id: str | None = Field(default=None, description="Dataset captures are added to.")

    @model_validator(mode="after")
    def _needs_a_rule(self) -> Collector:
        if not (
            self.pre_queue_workflow_id
            or self.post_queue_workflow_id
            or self.pre_queue_random_sample is not None
        ):
            raise ValueError(
                "give a pre_queue_workflow_id, a post_queue_workflow_id or a "
                "pre_queue_random_sample (at least one is required)"
            )
        return self

    @property
    def source(self) -> ApiPostModelOutputsCollectorSource:
        return self.collector_source.api_post_model_outputs_collector_source

    @property
    def active(self) -> bool:
        return self.status is CollectorStatus.ACTIVE


def parse_collector(doc: Any) -> Collector:
    """A collector from its document; InputError (11102) saying which field is wrong."""
    try:
        collector = Collector.model_validate(doc)
    except ValidationError as exc:
        raise InputError(INVALID, f"collector: {_errors(exc)}") from None
    try:
        check_id(collector.id, "collector id")
        check_id(collector.source.post_inputs_key_id, "key id")
        for wf in (collector.pre_queue_workflow_id, collector.post_queue_workflow_id):
            if wf:
                check_id(wf, "workflow id")
        if collector.dataset_id:
            check_id(collector.dataset_id, "dataset id")
    except InputError as exc:
        raise InputError(INVALID, exc.message) from None
    return collector


def patched(stored: Collector, action: PatchAction | str, changes: dict[str, Any]) -> Collector:
    """The collector after a merge / remove / overwrite patch; id and created_at stay."""
    if changes.get("id", stored.id) != stored.id:
        raise InputError(INVALID, f"a patch cannot change the id ({stored.id!r})")
    before = stored.model_dump(mode="json", exclude_none=True, exclude={"created_at"})
    after = patch(action, {k: v for k, v in changes.items() if k != "created_at"}, before)
    after["id"] = stored.id
    result = parse_collector(after)
    return result.model_copy(update={"created_at": stored.created_at})


class CollectorRefs(Protocol):
    """Lookups that check what a collector points to."""

    def get_key(self, key_id: str) -> ApiKey | None: ...
    def workflow_exists(self, user_id: str, app_id: str, workflow_id: str) -> bool: ...


def check_key(key: ApiKey | None, key_id: str, user_id: str, app_id: str) -> ApiKey:
    """The post-inputs key must exist (11009), be the app's (11008) and have PostInputs (11007)."""
    if key is None:
        raise InputError(StatusCode.CONN_KEY_NOT_FOUND, f"post-inputs key {key_id!r} not found")
    if (key.user_id, key.app_id) != (user_id, app_id):
        raise InputError(
            StatusCode.CONN_KEY_INVALID,
            f"post-inputs key {key_id!r} belongs to app {key.user_id}/{key.app_id}, not to the "
            f"destination app {user_id}/{app_id}",
        )
    if not has_scope(key.scopes, Scope.POST_INPUTS):
        raise InputError(
            StatusCode.CONN_INSUFFICIENT_SCOPES,
            f"post-inputs key {key_id!r} lacks the PostInputs scope (has: "
            f"{', '.join(key.scopes) or 'none'})",
        )
    return key


def check_references(collector: Collector, user_id: str, app_id: str, refs: CollectorRefs) -> None:
    """Everything the collector names exists in its app: the key and the workflows."""
    key_id = collector.source.post_inputs_key_id
    check_key(refs.get_key(key_id), key_id, user_id, app_id)
    for kind, wf in (
        ("pre-queue", collector.pre_queue_workflow_id),
        ("post-queue", collector.post_queue_workflow_id),
    ):
        if wf and not refs.workflow_exists(user_id, app_id, wf):
            raise InputError(
                StatusCode.WORKFLOW_DOES_NOT_EXIST,
                f"{kind} workflow {wf!r} does not exist in app {user_id}/{app_id} "
                "(create it with `ingestd workflows create`)",
            )


def _errors(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:3]:
        where = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)
