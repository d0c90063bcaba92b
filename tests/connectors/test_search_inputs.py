"""Searching inputs and editing datasets in the catalog: the same answers on SQLite and
PostgreSQL (metadata containment, concepts, lineage filters, keyset pages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from connectors.catalog import schema as t
from ingestd.app.runtime import Runtime
from pipeline.errors import InputError
from pipeline.events import UploadRequest
from pipeline.ingest.datasets import DatasetUpdate
from pipeline.models import Data, Input, Text
from pipeline.patching import PatchAction
from pipeline.search import InputQuery, parse_query
from pipeline.status import StatusCode
from tests.support.snapshots import DATASET, seed

both = pytest.mark.parametrize("storage", ["sqlite-local", "postgres-local"], indirect=True)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
META = {
    "m-nested": {"x": {"y": 1, "z": [1, 2, {"k": "v", "w": 3}]}, "flag": True},
    "m-string": {"x": {"y": "1"}, "flag": 1},
    "m-quote": {'key.with"quote': "v", "n": None, "f": 2.5},
    "m-list": {"tags": ["a", "b"], "x": {}},
    # Keys a JSON path could misread (dots, spaces, a colon, non-ASCII stored \u-escaped).
    "m-keys": {"café": "v", "a.b c:d/e": {"in-ner": 2}, "Z": [True]},
}


def stored(rt: Runtime) -> Runtime:
    """The seeded dataset, four text inputs with metadata (run-1) and another app's twin."""
    seed(rt)
    s = rt.settings
    texts = [Input(id=i, data=Data(text=Text(raw=i), metadata=m)) for i, m in META.items()]
    assert not rt.ingest.handle(UploadRequest(inputs=texts, run_id="run-1")).failed
    twin_input = Input(id="m-nested", data=Data(text=Text(raw="x"), metadata=META["m-nested"]))
    twin = UploadRequest(app_id="other", inputs=[twin_input])
    assert not rt.ingest.handle(twin).failed
    # Lineage a collector or an extraction job would write, and fixed creation times.
    with rt.catalog.begin() as conn:
        ids = [r["id"] for r in rt.catalog.list_inputs(s.user_id, s.app_id, limit=100)]
        for n, input_id in enumerate(sorted(ids)):
            conn.execute(
                t.inputs.update()
                .where(t.inputs.c.app_id == s.app_id, t.inputs.c.id == input_id)
                .values(created_at=T0 + timedelta(minutes=n // 2))  # pairs share a time
            )
        conn.execute(
            t.inputs.update()
            .where(t.inputs.c.app_id == s.app_id, t.inputs.c.id == "img-b")
            .values(collector_id="col-1", job_id="job-1", source="collector")
        )
    return rt


def ids(rt: Runtime, **fields: Any) -> list[str]:
    s = rt.settings
    page = rt.catalog.inputs.search(s.user_id, s.app_id, parse_query(fields))
    assert rt.catalog.inputs.count(s.user_id, s.app_id, parse_query(fields)) == len(page.rows)
    return [r["id"] for r in page.rows]


@both
def test_filters_mean_the_same_on_both_catalogs(runtime: Runtime) -> None:
    rt = stored(runtime)
    assert ids(rt, metadata={"x": {"y": 1}}) == ["m-nested"]  # not the string "1"
    assert ids(rt, metadata={"x": {"y": "1"}}) == ["m-string"]
    assert ids(rt, metadata={"flag": True}) == ["m-nested"]  # true is not 1
    assert ids(rt, metadata={"flag": 1}) == ["m-string"]
    assert ids(rt, metadata={"x": {"z": [{"k": "v"}, 2]}}) == ["m-nested"]
    assert ids(rt, metadata={"x": {"z": [{"k": "other"}]}}) == []
    assert ids(rt, metadata={'key.with"quote': "v", "n": None, "f": 2.5}) == ["m-quote"]
    assert ids(rt, metadata={"tags": ["b"]}) == ["m-list"]
    assert ids(rt, metadata={"tags": "b"}) == []  # a member is not an array
    assert ids(rt, metadata={"x": {}}) == ["m-list", "m-nested", "m-string"]
    assert ids(rt, metadata={"batch": 1}) == ["img-a"]
    assert ids(rt, metadata={"café": "v"}) == ["m-keys"]
    assert ids(rt, metadata={"a.b c:d/e": {"in-ner": 2}}) == ["m-keys"]
    assert ids(rt, metadata={"a.b c:d/e": {"in-ner": "2"}}) == []
    assert ids(rt, metadata={"a": {"b c:d/e": {"in-ner": 2}}}) == []  # the dot is no path
    assert ids(rt, metadata={"Z": [True]}) == ["m-keys"]
    assert ids(rt, metadata={"Z": [1]}) == []
    assert len(ids(rt, metadata={})) == 11
    # Concepts: positive (value above 0) and negative (value 0).
    assert ids(rt, concepts=["cat"]) == ["img-a"]
    assert ids(rt, concepts=["dog"]) == []
    assert ids(rt, not_concepts=["dog"]) == ["img-d"]
    assert ids(rt, concepts=["cat"], metadata={"batch": 1}) == ["img-a"]
    assert ids(rt, media_type=["text"], run_id="run-1") == list(sorted(META))
    assert ids(rt, media_type=["image"], dataset_id=DATASET) == ["img-a", "img-b", "img-c", "img-d"]
    assert ids(rt, collector_id="col-1") == ids(rt, job_id="job-1") == ["img-b"]
    assert ids(rt, source="collector") == ["img-b"]
    assert ids(rt, status=[30000], id_prefix="img-") == ["img-a", "img-b", "img-c", "img-d"]
    assert ids(rt, id_prefix="IMG") == []  # prefixes are case-sensitive on SQLite too
    assert ids(rt, failed=True) == []
    t1 = (T0 + timedelta(minutes=1)).isoformat()
    t2 = (T0 + timedelta(minutes=2)).isoformat()
    assert ids(rt, created_after=t1, created_before=t2) == ["img-c", "img-d"]
    # Another app's input of the same id and metadata is never found.
    assert ids(rt, id_prefix="m-nested") == ["m-nested"]
    s = rt.settings
    assert rt.catalog.get_input(s.user_id, "other", "m-nested") is not None


@both
def test_pages_are_stable_under_inserts_and_cursors_belong_to_their_search(
    runtime: Runtime,
) -> None:
    rt = stored(runtime)
    s = rt.settings
    base = ids(rt)  # id order, which is also creation order (ties broken by id)
    for order, expected in (
        ("-id", base[::-1]),
        ("created_at", list(base)),
        ("-created_at", ["aaa-late", *base[::-1]]),  # the input added mid-listing below
    ):
        query = InputQuery(order=order, limit=3)
        seen: list[str] = []
        page = rt.catalog.inputs.search(s.user_id, s.app_id, query)
        while True:
            seen += [r["id"] for r in page.rows]
            if page.next_cursor is None:
                break
            if order == "created_at" and len(seen) == 3:
                # An input arriving mid-listing comes last in time order, never repeats one.
                late = Input(id="aaa-late", data=Data(text=Text(raw="late")))
                assert not rt.ingest.handle(UploadRequest(inputs=[late])).failed
                expected.append("aaa-late")
            cursor = query.model_copy(update={"cursor": page.next_cursor})
            page = rt.catalog.inputs.search(s.user_id, s.app_id, cursor)
        assert seen == expected, order
    first = rt.catalog.inputs.search(s.user_id, s.app_id, InputQuery(limit=1))
    assert first.next_cursor is not None
    other = InputQuery(limit=1, media_type=["text"], cursor=first.next_cursor)
    with pytest.raises(InputError) as bad:
        rt.catalog.inputs.search(s.user_id, s.app_id, other)
    assert bad.value.code is StatusCode.SEARCH_INVALID_REQUEST
    with pytest.raises(InputError, match="cursor"):
        rt.catalog.inputs.search(s.user_id, s.app_id, InputQuery(cursor="not-a-cursor"))


def test_bad_queries_are_refused_with_40002() -> None:
    for raw, words in (
        ({"concept": ["cat"]}, "concept: unknown field"),
        ({"status": [12345]}, "not a status code"),
        ({"limit": 0}, "limit"),
        ({"created_after": "2024-05-01T00:00:00"}, "time zone"),
        ({"order": "size"}, "order"),
        ({"after_id": "a", "order": "-id"}, "after_id"),
        ([1], "JSON object"),
    ):
        with pytest.raises(InputError) as bad:
            parse_query(raw)
        assert bad.value.code is StatusCode.SEARCH_INVALID_REQUEST
        assert words in bad.value.message, bad.value.message


@both
def test_dataset_edits_and_counts(runtime: Runtime) -> None:
    rt = stored(runtime)
    s, d = rt.settings, rt.catalog.datasets

    def count() -> int:
        return {r["id"]: r["inputs_count"] for r in rt.catalog.list_datasets(s.user_id, s.app_id)}[
            DATASET
        ]

    def listed() -> list[str]:
        rows = rt.catalog.list_inputs(s.user_id, s.app_id, limit=100, dataset_id=DATASET)
        return [r["id"] for r in rows]

    assert count() == len(listed()) == 5
    # A source object deleted upstream (drop zone) is neither listed nor counted.
    with rt.catalog.begin() as conn:
        conn.execute(
            text("UPDATE inputs SET deleted_at = :now WHERE app_id = :app AND id = 'img-c'"),
            {"now": datetime.now(UTC), "app": s.app_id},
        )
    assert count() == len(listed()) == 4

    out = d.add_inputs(s.user_id, s.app_id, DATASET, ["m-list", "img-a", "ghost", "img-c"])
    assert out is not None
    assert [(o.input_id, o.code, o.action) for o in out] == [
        ("m-list", StatusCode.DATASET_INPUT_SUCCESS, "added"),
        ("img-a", StatusCode.DATASET_INPUT_DUPLICATE, "unchanged"),
        ("ghost", StatusCode.INPUT_DOES_NOT_EXIST, "failed"),
        ("img-c", StatusCode.INPUT_DOES_NOT_EXIST, "failed"),
    ]
    assert count() == len(listed()) == 5
    out = d.remove_inputs(s.user_id, s.app_id, DATASET, ["img-a", "m-quote"])
    assert out is not None and [o.action for o in out] == ["removed", "unchanged"]
    assert "img-a" not in listed() and count() == 4
    assert d.add_inputs(s.user_id, s.app_id, "nope", ["img-a"]) is None
    # The other app's twin exists there only: adding it here finds no such input.
    assert d.add_inputs(s.user_id, "other", DATASET, ["m-nested"]) is None  # no dataset there

    new = d.update(
        s.user_id, s.app_id, DATASET, DatasetUpdate("pets v2", {"a": {"b": 1}}), s.limits
    )
    assert new is not None and new["description"] == "pets v2"
    more = DatasetUpdate(metadata={"a": {"c": 2}})
    merged = d.update(s.user_id, s.app_id, DATASET, more, s.limits)
    assert merged is not None and merged["metadata"] == {"a": {"b": 1, "c": 2}}
    over = DatasetUpdate(metadata={"z": 1}, action=PatchAction.OVERWRITE, default_filter=None)
    row = d.update(s.user_id, s.app_id, DATASET, over, s.limits)
    assert row is not None and (row["metadata"], row["default_filter"]) == ({"z": 1}, None)
    huge = DatasetUpdate(metadata={"x": "y" * (s.limits.metadata_bytes + 1)})
    with pytest.raises(InputError) as bad:
        d.update(s.user_id, s.app_id, DATASET, huge, s.limits)
    assert bad.value.code is StatusCode.METADATA_INVALID_PATCH_ARGUMENTS
    assert rt.catalog.get_dataset(s.user_id, s.app_id, DATASET)["metadata"] == {"z": 1}  # type: ignore[index]

    assert d.delete(s.user_id, s.app_id, DATASET) == 5  # img-c's membership row included
    assert rt.catalog.get_dataset(s.user_id, s.app_id, DATASET) is None
    assert rt.catalog.get_input(s.user_id, s.app_id, "img-b") is not None
    assert d.delete(s.user_id, s.app_id, DATASET) is None
