"""The catalog's JSON columns: written by orjson, read back exactly as json.dumps wrote them."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Text, cast, select

from connectors.catalog import schema as t
from connectors.catalog.rows import json_text, utc_now
from connectors.catalog.sql import SqlCatalog
from pipeline.records import AnnotationRecord


class Color(StrEnum):
    RED = "red"


VALUES: list[Any] = [
    {"a": 1, "b": [1.5, 2.0, -0.0, 1e16, 1e-7], "c": {"d": 'é漢😀\u0000\n"\\'}},
    [{"id": "cat", "value": 1.0}],
    {},
    [],
    {"big": 2**70, "small": -(2**63)},
    {"none": None},
    {"nan": math.nan, "inf": math.inf},
    {1: "int key", "k": True},
    {"color": Color.RED},
    "nullable",
]


@pytest.mark.parametrize("value", VALUES)
def test_json_text_means_what_json_dumps_meant(value: Any) -> None:
    got = json_text(value)
    assert json.dumps(json.loads(got)) == json.dumps(json.loads(json.dumps(value)))


def test_what_orjson_would_change_goes_through_json_dumps() -> None:
    for value in ({"nan": math.nan}, {"n": None}, {"big": 2**70}, {1: 2}):
        assert json_text(value) == json.dumps(value)
    with pytest.raises(TypeError):  # as json.dumps: no datetime in a JSON column
        json_text({"at": datetime.now(UTC)})
    assert json_text({"a": [1, 2.5], "é": "ü"}) == '{"a":[1,2.5],"é":"ü"}'  # orjson's text


def test_catalog_json_columns_round_trip(tmp_path: Path) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path}/c.db")
    values = [v for v in VALUES if not isinstance(v, dict) or 1 not in v] + [{"t": Color.RED}]
    records = [
        AnnotationRecord(f"a{n}", "me", "main", "in", "me", "ANNOTATION_SUCCESS", {"v": value})
        for n, value in enumerate(values)
    ]
    try:
        with catalog.begin() as conn:
            catalog.upsert_annotations(conn, records, utc_now())
        with catalog.begin() as conn:
            c = t.annotations.c
            rows = dict(conn.execute(select(c.id, c.data)).all())
            raw = dict(conn.execute(select(c.id, cast(c.data, Text))).all())
    finally:
        catalog.close()
    for n, value in enumerate(values):
        got = rows[f"a{n}"]["v"]
        if isinstance(value, dict) and "nan" in value:  # NaN is kept as json.dumps kept it
            assert math.isnan(got["nan"]) and got["inf"] == math.inf
        else:
            assert got == json.loads(json.dumps(value))
    assert raw["a1"] == '{"v":[{"id":"cat","value":1.0}]}'
