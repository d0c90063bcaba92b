"""A search over an app's stored inputs: what to match, in which order, one page at a time.

The same query lists inputs, chooses what a patch or delete touches and what is added to
or removed from a dataset. Unknown fields are refused (40002 SEARCH_INVALID_REQUEST), so a
misspelt filter never silently matches everything. Pages are keyset pages: the cursor holds
the last row's sort key, so rows inserted meanwhile neither repeat nor shift a page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.errors import InputError
from pipeline.models import MediaType
from pipeline.status import StatusCode

MAX_PAGE = 10_000


class SearchOrder(StrEnum):
    """Sort key and direction; `id` is the default (the order `--after` pages in)."""

    ID = "id"
    ID_DESC = "-id"
    CREATED = "created_at"
    CREATED_DESC = "-created_at"

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")

    @property
    def by_time(self) -> bool:
        return self.value.endswith("created_at")


class InputQuery(BaseModel):
    """Every filter must hold for an input to match (AND); a list matches any of its values.

    `concepts` / `not_concepts`: the input carries the concept with a value above 0 / with
    value 0. `metadata`: the input's metadata contains this object (nested objects and
    arrays as JSON containment: every key given holds, every array element given is there).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: list[int] = Field(default_factory=list, description="Status codes, e.g. 30000.")
    failed: bool = Field(False, description="Only inputs whose status is not 30000.")
    media_type: list[MediaType] = Field(default_factory=list)
    concepts: list[str] = Field(default_factory=list)
    not_concepts: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None
    dataset_id: str | None = None
    source: str | None = Field(None, description="Source kind: api, folder, csv, s3, ...")
    run_id: str | None = None
    job_id: str | None = None
    collector_id: str | None = None
    created_after: datetime | None = Field(None, description="Created at or after (inclusive).")
    created_before: datetime | None = Field(None, description="Created before (exclusive).")
    id_prefix: str | None = Field(None, min_length=1)
    after_id: str | None = Field(None, description="Start after this id (id order only).")
    order: SearchOrder = SearchOrder.ID
    limit: int = Field(100, ge=1, le=MAX_PAGE)
    cursor: str | None = None

    @field_validator("created_after", "created_before")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2024-05-01T00:00:00Z")
        # The catalog keeps UTC; SQLite compares times as text, so the zone must match.
        return None if value is None else value.astimezone(UTC)

    @field_validator("status")
    @classmethod
    def _known_codes(cls, value: list[int]) -> list[int]:
        for code in value:
            try:
                StatusCode(code)
            except ValueError:
                raise ValueError(f"{code} is not a status code") from None
        return value

    @model_validator(mode="after")
    def _one_way_to_page(self) -> InputQuery:
        if self.after_id is not None and (self.cursor is not None or self.order != SearchOrder.ID):
            raise ValueError("after_id pages in id order only and not with a cursor")
        return self

    def matching(self) -> InputQuery:
        """The same filters without paging: what a bulk change applies to."""
        return self.model_copy(update={"cursor": None, "after_id": None, "limit": MAX_PAGE})

    def fingerprint(self) -> str:
        """What a cursor is tied to: the filters and the order, not the page."""
        kept = self.model_dump(mode="json", exclude={"cursor", "limit", "after_id"})
        return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def parse_query(raw: Any) -> InputQuery:
    """A query from JSON-like data; InputError 40002 naming each bad field."""
    if not isinstance(raw, dict):
        raise InputError(StatusCode.SEARCH_INVALID_REQUEST, "a search must be a JSON object")
    try:
        return InputQuery.model_validate(raw)
    except ValidationError as exc:
        raise InputError(StatusCode.SEARCH_INVALID_REQUEST, describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "search"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def encode_cursor(query: InputQuery, last: dict[str, Any]) -> str:
    """The cursor of the page after the row `last` (its id and created_at)."""
    key: list[Any] = [last["id"]]
    if query.order.by_time:
        key.insert(0, last["created_at"].isoformat())
    body = {"q": query.fingerprint(), "k": key}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def decode_cursor(query: InputQuery) -> tuple[datetime | None, str] | None:
    """The sort key the page starts after; InputError when the cursor is not this query's."""
    if query.cursor is None:
        return None
    bad = InputError(
        StatusCode.SEARCH_INVALID_REQUEST,
        "the cursor is not one this search returned (a cursor only continues the search "
        "with the same filters and order)",
    )
    try:
        text = query.cursor + "=" * (-len(query.cursor) % 4)
        body = json.loads(base64.urlsafe_b64decode(text.encode()))
        if body["q"] != query.fingerprint():
            raise bad
        key = body["k"]
        if query.order.by_time:
            when, last_id = datetime.fromisoformat(key[0]), key[1]
        else:
            when, last_id = None, key[0]
        if not isinstance(last_id, str):
            raise bad
        return when, last_id
    except (ValueError, KeyError, IndexError, TypeError):
        raise bad from None
