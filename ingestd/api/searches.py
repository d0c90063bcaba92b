"""PostInputsSearches: the platform's search query as ingestd's `InputQuery`
(`pipeline/search.py`), run by the catalog's search (`catalog.inputs`), a page at a time.

What maps: filters (and the older `ands`) on an input's or annotation's concepts (value > 0
present, 0 absent), metadata (containment), the input's media type (an empty image, text,
audio or video), status code and one dataset id. Every part of a query that ingestd cannot
apply (ranks by similarity, negation, geo, time ranges, model outputs, ...) is refused with
40002 SEARCH_INVALID_REQUEST naming it, never ignored.
"""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc
from google.protobuf import json_format

from ingestd.api.convert import input_message, status
from ingestd.api.paging import Pager
from ingestd.app.runtime import Runtime
from pipeline.errors import InputError
from pipeline.search import InputQuery, parse_query
from pipeline.status import StatusCode

_MEDIA = ("image", "video", "audio", "text")
# Set by the SDK on every search; without ranks they choose nothing.
_SEARCH_FIELDS = {"query", "algorithm", "metric", "id", "name"}


class SearchesApi:
    def __init__(self, runtime: Runtime, pager: Pager) -> None:
        self.rt = runtime
        self.pager = pager

    def post_inputs_searches(self, req: svc.PostInputsSearchesRequest, user: str, app: str) -> Any:
        if len(req.searches) != 1:
            raise InputError(
                StatusCode.SEARCH_INVALID_REQUEST,
                f"give one search, not {len(req.searches)} (ingestd runs one at a time)",
            )
        query = search_query(req.searches[0])
        resp = svc.MultiSearchResponse(searches=[req.searches[0]])
        resp.query.CopyFrom(req.searches[0].query)
        if req.only_count:
            resp.hit_counts.add(estimated_total=self.rt.catalog.inputs.count(user, app, query))
        else:
            rows = self.rows(user, app, query, req.pagination.page, req.pagination.per_page)
            for row in rows:
                resp.hits.add(score=1.0, input=input_message(row), user_id=user, app_id=app)
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def rows(
        self, user: str, app: str, query: InputQuery, page: int, per_page: int
    ) -> list[dict[str, Any]]:
        """Page `page` of what `query` matches, in id order (as ListInputs pages)."""

        def fetch(after: str, limit: int) -> list[dict[str, Any]]:
            step = query.model_copy(update={"after_id": after or None, "limit": limit})
            return self.rt.catalog.inputs.search(user, app, step).rows

        return self.pager.page(("search", user, app, query.fingerprint()), fetch, page, per_page)


def search_query(search: res.Search) -> InputQuery:
    """The InputQuery of one platform search; InputError 40002 naming what cannot map."""
    unknown = [f"search.{f.name}" for f, _ in search.ListFields() if f.name not in _SEARCH_FIELDS]
    q = search.query
    # The SDK sends one empty rank with every filter-only search: it ranks nothing.
    if any(_set(r) for r in q.ranks):
        unknown.append("query.ranks (similarity needs embeddings, which ingestd does not keep)")
    if q.language:
        unknown.append("query.language")
    parts: list[tuple[str, Any, Any]] = []  # (where, input, annotation)
    for n, f in enumerate(q.filters):
        where = f"query.filters[{n}]"
        unknown += _unsupported(f, where, ("input", "annotation"))
        parts.append((where, f.input if f.HasField("input") else None,
                      f.annotation if f.HasField("annotation") else None))  # fmt: skip
    for n, a in enumerate(q.ands):
        where = f"query.ands[{n}]"
        unknown += _unsupported(a, where, ("input", "annotation"))
        parts.append((where, a.input if a.HasField("input") else None,
                      a.annotation if a.HasField("annotation") else None))  # fmt: skip
    raw: dict[str, Any] = {}
    for where, given_input, annotation in parts:
        part: dict[str, Any] = {}
        if given_input is not None:
            unknown += _input_part(given_input, f"{where}.input", part)
        if annotation is not None:
            extra = [f.name for f, _ in annotation.ListFields() if f.name != "data"]
            unknown += [f"{where}.annotation.{name}" for name in extra]
            unknown += _data_part(annotation.data, f"{where}.annotation.data", part, media=False)
        unknown += _and(raw, part, where)
    if unknown:
        raise InputError(
            StatusCode.SEARCH_INVALID_REQUEST,
            f"not supported by ingestd's search: {'; '.join(unknown)}. It filters on concepts, "
            "metadata, media type, status code and one dataset id",
        )
    return parse_query(raw)


def _and(raw: dict[str, Any], part: dict[str, Any], where: str) -> list[str]:
    """Add one filter's conditions to those before it (every filter must hold)."""
    for key, value in part.items():
        if key not in raw:
            raw[key] = value
        elif key in ("status", "media_type"):  # any of a filter's values, in every filter
            raw[key] = [v for v in raw[key] if v in value]
            if not raw[key]:
                return [f"{where}: its {key} excludes the one of an earlier filter"]
        elif key == "metadata":
            try:
                raw[key] = _both(raw[key], value)
            except ValueError as exc:
                return [f"{where}.metadata: {exc}"]
        elif key in ("concepts", "not_concepts"):
            raw[key] = list(dict.fromkeys([*raw[key], *value]))
        elif raw[key] != value:  # dataset_id
            return [f"{where}: a second dataset id (one dataset id per search)"]
    return []


def _both(a: Any, b: Any) -> Any:
    """Metadata containing both `a` and `b`; ValueError when no value could."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {
            k: _both(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in {**a, **b}
        }
    if isinstance(a, list) and isinstance(b, list):
        return a + [x for x in b if x not in a]
    if a != b:
        raise ValueError(f"{a!r} and {b!r} for one key: no input has both")
    return a


def _set(rank: res.Rank) -> bool:
    return any(f.name != "annotation" or v.ListFields() for f, v in rank.ListFields())


def _unsupported(msg: Any, where: str, allowed: tuple[str, ...]) -> list[str]:
    return [f"{where}.{f.name}" for f, _ in msg.ListFields() if f.name not in allowed]


def _input_part(given: res.Input, where: str, raw: dict[str, Any]) -> list[str]:
    unknown = _unsupported(given, where, ("data", "status", "dataset_ids"))
    if given.status.code:
        raw.setdefault("status", []).append(given.status.code)
    if len(given.dataset_ids) > 1:
        unknown.append(f"{where}.dataset_ids (one dataset id per search)")
    elif given.dataset_ids:
        raw["dataset_id"] = given.dataset_ids[0]
    return unknown + _data_part(given.data, f"{where}.data", raw, media=True)


def _data_part(data: res.Data, where: str, raw: dict[str, Any], *, media: bool) -> list[str]:
    allowed = ("concepts", "metadata", *(_MEDIA if media else ()))
    unknown = _unsupported(data, where, allowed)
    for kind in _MEDIA:
        if data.HasField(kind):
            if getattr(data, kind).ListFields():
                unknown.append(f"{where}.{kind} (search by content needs embeddings)")
            raw.setdefault("media_type", []).append(kind)
    for c in data.concepts:
        concept_id = c.id or c.name
        key = "concepts" if c.value > 0 else "not_concepts"
        raw[key] = list(dict.fromkeys([*raw.get(key, []), concept_id]))
    if data.HasField("metadata"):
        raw["metadata"] = json_format.MessageToDict(data.metadata)
    return unknown
