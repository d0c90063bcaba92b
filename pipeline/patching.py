"""PATCH semantics of the reference (../shared/reference/patching.md): merge, remove, overwrite.

`patch(action, a, b)` applies the patch object `a` to the stored object `b` and returns a new
object; neither argument is changed. Objects are plain JSON values (dicts, lists, scalars).
"""

from __future__ import annotations

import copy
from enum import StrEnum
from typing import Any


class PatchAction(StrEnum):
    MERGE = "merge"
    REMOVE = "remove"
    OVERWRITE = "overwrite"


def patch(action: PatchAction | str, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The result of patching `a` into `b` with `action`."""
    action = PatchAction(action)
    if action is PatchAction.OVERWRITE:
        return _strip_nulls(copy.deepcopy(a))
    if action is PatchAction.MERGE:
        return merge(a, b)
    return remove(a, b)


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Overwrite key:values, deep-merge objects, append to lists (objects with an id merge)."""
    out = copy.deepcopy(b)
    for key, new in a.items():
        if new is None:  # null does nothing
            continue
        old = out.get(key)
        if isinstance(new, dict):
            # {} replaces; an object merges into an object and replaces anything else.
            out[key] = merge(new, old) if new and isinstance(old, dict) else _strip_nulls(new)
        elif isinstance(new, list):
            out[key] = _merge_lists(new, old) if new and isinstance(old, list) else list(new)
        else:
            out[key] = new
    return out


def _merge_lists(new: list[Any], old: list[Any]) -> list[Any]:
    out = copy.deepcopy(old)
    where = {_id(item): n for n, item in enumerate(out) if _id(item) is not None}
    for item in new:
        item_id = _id(item)
        if item_id is not None and item_id in where:
            out[where[item_id]] = merge(item, out[where[item_id]])
        else:
            out.append(_strip_nulls(copy.deepcopy(item)))
    return out


def remove(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """`true` deletes a key, other values overwrite, id lists drop the ids given."""
    out = copy.deepcopy(b)
    for key, marker in a.items():
        if marker is None:
            continue
        if marker is True:
            out.pop(key, None)
        elif isinstance(marker, dict):
            old = out.get(key)
            if isinstance(old, dict):
                out[key] = remove(marker, old)
            elif marker:  # removing inside something that is not an object: nothing to do
                continue
        elif isinstance(marker, list):
            old = out.get(key)
            if marker and all(_id(m) is not None for m in marker) and isinstance(old, list):
                gone = {_id(m) for m in marker}
                out[key] = [item for item in old if _id(item) not in gone]
            elif marker and all(_only_markers(m) for m in marker):
                # Only objects with an id can be removed from a list; a list of bare
                # markers removes the whole key (the reference's example).
                out.pop(key, None)
            else:
                out[key] = (old if isinstance(old, list) else []) + copy.deepcopy(marker)
        else:
            out[key] = marker
    return out


def _id(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else None


def _only_markers(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value) and all(_only_markers(v) for v in value.values())
    return value is True


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value
