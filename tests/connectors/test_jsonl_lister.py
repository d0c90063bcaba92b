"""The JSON-lines lister: lines over the limit, blank lines, ids, sizes, --retry-failed keys."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.importers.jsonl import URL_SIZE, count_lines, iter_jsonl_items
from pipeline.status import StatusCode


def test_a_long_line_fails_alone_and_the_next_line_is_read(tmp_path: Path) -> None:
    url = {"data": {"image": {"url": "https://example.com/a.jpg"}}}
    path = tmp_path / "x.jsonl"
    text = {"id": "t", "data": {"text": {"raw": "y" * 500}}}
    path.write_text("\n".join([json.dumps(url), json.dumps(text), "   ", json.dumps(url)]))
    items = {it.key: it for it in iter_jsonl_items(path, line_limit=300)}
    assert list(items) == ["x.jsonl:1", "x.jsonl:2", "x.jsonl:4"]
    err = items["x.jsonl:2"].error
    assert err is not None and err.code == StatusCode.INPUT_OVER_LIMIT and "line 2" in err.message
    first, last = items["x.jsonl:1"].input, items["x.jsonl:4"].input
    assert first is not None and last is not None
    assert first.id == last.id and first.id is not None  # from the content: the same line
    assert items["x.jsonl:1"].size == URL_SIZE
    assert count_lines(path) == 4

    again = list(iter_jsonl_items(path, keys={"x.jsonl:4"}))
    assert [it.key for it in again] == ["x.jsonl:4"]
