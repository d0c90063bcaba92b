"""PATCH semantics against the examples of ../shared/reference/patching.md (A patched into B)."""

from __future__ import annotations

import pytest

from pipeline.patching import PatchAction, patch

MERGE = [
    ({"a": [1, 2, 3]}, {"blah": True}, {"blah": True, "a": [1, 2, 3]}),
    ({"a": [{"id": 1}]}, {"a": [{"id": 2}]}, {"a": [{"id": 2}, {"id": 1}]}),
    (
        {"a": [{"id": "1"}], "blah": 1},
        {"a": [{"id": "2"}], "blah": "string"},
        {"a": [{"id": "2"}, {"id": "1"}], "blah": 1},
    ),
    (
        {"a": [{"id": "1", "hey": True}], "blah": 1},
        {"a": [{"id": "1", "foo": "bar", "hey": False}, {"id": "2"}], "blah": "string"},
        {"a": [{"hey": True, "id": "1", "foo": "bar"}, {"id": "2"}], "blah": 1},
    ),
    (
        {"a": [{"blah": "1"}], "blah": 1},
        {"a": [{"blah": "2"}], "blah": "string"},
        {"a": [{"blah": "2"}, {"blah": "1"}], "blah": 1},
    ),
    (
        {"a": [{"blah": "1"}], "blah": 1, "dict": {"a": 1, "b": 2}},
        {"a": [{"blah": "2"}], "blah": "string"},
        {"a": [{"blah": "2"}, {"blah": "1"}], "blah": 1, "dict": {"a": 1, "b": 2}},
    ),
    ({"key1": True}, {"key1": {"key2": "value2", "key3": "value3"}}, {"key1": True}),
    (
        {"key1": {"key2": True}},
        {"key1": {"key2": "value2", "key3": "value3"}},
        {"key1": {"key2": True, "key3": "value3"}},
    ),
    (
        {"key1": {"key2": {"key4": "value4"}}},
        {"key1": {"key2": "value2", "key3": "value3"}},
        {"key1": {"key2": {"key4": "value4"}, "key3": "value3"}},
    ),
    (
        {
            "key1": {"key2": {"key9": "value9"}, "key3": {"key4": "value4", "key10": [1, 2, 3]}},
            "key6": {"key11": "value11"},
        },
        {
            "key1": {"key2": "value2", "key3": {"key4": {"key5": "value5"}}},
            "key6": {"key7": {"key8": "value8"}},
        },
        {
            "key1": {"key2": {"key9": "value9"}, "key3": {"key4": "value4", "key10": [1, 2, 3]}},
            "key6": {"key7": {"key8": "value8"}, "key11": "value11"},
        },
    ),
    (
        {"key1": {"key2": {}}},
        {"key1": {"key2": "value2", "key3": "value3"}},
        {"key1": {"key2": {}, "key3": "value3"}},
    ),
    (
        {"key1": {"key2": None}},
        {"key1": {"key2": "value2", "key3": "value3"}},
        {"key1": {"key2": "value2", "key3": "value3"}},
    ),
    ({"key1": []}, {"key1": {"key2": "value2", "key3": "value3"}}, {"key1": []}),
    (
        {"key1": {"key2": []}},
        {"key1": {"key2": "value2", "key3": "value3"}},
        {"key1": {"key2": [], "key3": "value3"}},
    ),
    (
        {"key1": {"key2": [{"key3": "value3"}]}},
        {"key1": {"key2": {"key3": "value3"}}},
        {"key1": {"key2": [{"key3": "value3"}]}},
    ),
    (
        {"key1": {"key2": {"key3": [{"key4": "value4"}]}}},
        {"key1": {"key2": []}},
        {"key1": {"key2": {"key3": [{"key4": "value4"}]}}},
    ),
]

REMOVE = [
    (
        {"a": [{"id": "1"}], "blah": 1},
        {"a": [{"id": "2"}, {"id": "3"}, {"id": "1"}], "blah": "string"},
        {"a": [{"id": "2"}, {"id": "3"}], "blah": 1},
    ),
    (
        {"a": [{"blah": "1"}], "blah": 1},
        {"a": [{"blah": "2"}], "blah": "string"},
        {"a": [{"blah": "2"}, {"blah": "1"}], "blah": 1},
    ),
    ({"key1": {"key2": True}}, {"key1": {"key2": "value2"}}, {"key1": {}}),
    ({"key1": True}, {"key1": {"key2": "value2", "key3": "value3"}}, {}),
    (
        {"key1": {"key2": True}},
        {"key1": {"key2": "value2", "key3": "value3"}},
        {"key1": {"key3": "value3"}},
    ),
    (
        {"key1": {"key2": {"key3": True}, "key4": True}},
        {"key1": {"key2": {"key3": {"key5": "value5"}}, "key4": {"key6": {"key7": "value7"}}}},
        {"key1": {"key2": {}}},
    ),
    (
        {"key1": True},
        {"key1": {"key2": "value2", "key3": "value3"}, "key4": ["a", "b", "c"]},
        {"key4": ["a", "b", "c"]},
    ),
    (
        {"key1": {"key2": False, "key3": True}, "key4": False},
        {
            "key1": {"key2": "value2", "key3": "value3"},
            "key4": [{"key5": "value5", "key6": "value6"}, {"key7": "value7"}],
        },
        {"key1": {"key2": False}, "key4": False},
    ),
    ({"key1": [{"key2": True}]}, {"key1": [{"key2": "value2"}, {"key3": "value3"}]}, {}),
    (
        {"key1": {}},
        {"key1": {"key2": "value2", "key3": "value3"}},
        {"key1": {"key2": "value2", "key3": "value3"}},
    ),
    (
        {"key1": {"key2": None}},
        {"key1": {"key2": "value2", "key3": "value3"}},
        {"key1": {"key2": "value2", "key3": "value3"}},
    ),
]

OVERWRITE = [
    (
        {"a": [{"id": "1"}], "blah": 1},
        {"a": [{"id": "2"}], "blah": "string", "foo": "bar"},
        {"a": [{"id": "1"}], "blah": 1},
    ),
    ({}, {"a": [{"blah": "2"}], "blah": "string"}, {}),
]


@pytest.mark.parametrize(
    ("action", "a", "b", "expected"),
    [(PatchAction.MERGE, *x) for x in MERGE]
    + [(PatchAction.REMOVE, *x) for x in REMOVE]
    + [(PatchAction.OVERWRITE, *x) for x in OVERWRITE],
)
def test_reference_examples(action: PatchAction, a: dict, b: dict, expected: dict) -> None:
    before = repr(b)
    assert patch(action, a, b) == expected
    assert repr(b) == before, "the stored object must not be changed in place"


def test_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError):
        patch("replace", {}, {})


def test_reference_merge_within_a_list_keeps_the_patched_field() -> None:
    """patching.md's "Simple merge of key:values and within a list" prints a result without
    `other` at all, which contradicts its own "Deep merge" example (A's `"hey": true` is kept
    in the dict matched by id). We follow the deep-merge rule, as the platform's API does:
    the id-matched dict is merged and A's value wins."""
    a = {"a": [{"id": "1", "other": True}], "blah": 1}
    b = {"a": [{"id": "2"}, {"id": "1", "other": False}]}
    assert patch(PatchAction.MERGE, a, b) == {
        "a": [{"id": "2"}, {"id": "1", "other": True}],
        "blah": 1,
    }
