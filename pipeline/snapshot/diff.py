"""What changed between two dataset versions, from their manifests (both sorted by input id).

A merge walk over the two files: inputs added and removed, inputs whose data changed, and
for inputs in both, annotations added, removed and modified. Only counts and a bounded
sample of ids are kept, so two million-input versions compare in constant memory. Given
`group`, the inputs added are also counted by what added them (an import run, a
collector), asked a batch of ids at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.snapshot.manifest import read_manifest


@dataclass
class VersionDiff:
    inputs_added: int = 0
    inputs_removed: int = 0
    inputs_unchanged: int = 0
    inputs_data_changed: int = 0
    inputs_annotations_changed: int = 0
    annotations_added: int = 0
    annotations_removed: int = 0
    annotations_modified: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)
    added_by: dict[str, int] = field(default_factory=dict)  # group -> inputs added
    sample_size: int = 20

    def note(self, kind: str, item: str) -> None:
        ids = self.samples.setdefault(kind, [])
        if len(ids) < self.sample_size:
            ids.append(item)

    @property
    def identical(self) -> bool:
        return not (
            self.inputs_added
            or self.inputs_removed
            or self.inputs_data_changed
            or self.inputs_annotations_changed
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("sample_size")
        out["identical"] = self.identical
        return out


Grouper = Callable[[list[str]], list[str]]
"""Input ids -> the group of each (its import run, collector, ...), in the same order."""

GROUP_BATCH = 1000


def diff_manifests(
    old: Path, new: Path, sample_size: int = 20, group: Grouper | None = None
) -> VersionDiff:
    """Compare version `old` (A) with version `new` (B)."""
    diff = VersionDiff(sample_size=sample_size)
    added: list[str] = []

    def count_added(flush: bool = False) -> None:
        if group is not None and added and (flush or len(added) >= GROUP_BATCH):
            for name in group(added):
                diff.added_by[name] = diff.added_by.get(name, 0) + 1
            added.clear()

    a_lines, b_lines = read_manifest(old), read_manifest(new)
    a, b = _next(a_lines), _next(b_lines)
    while a is not None or b is not None:
        if b is None or (a is not None and a["id"] < b["id"]):
            assert a is not None
            diff.inputs_removed += 1
            diff.note("inputs_removed", a["id"])
            a = _next(a_lines)
        elif a is None or b["id"] < a["id"]:
            diff.inputs_added += 1
            diff.note("inputs_added", b["id"])
            if group is not None:
                added.append(b["id"])
                count_added()
            b = _next(b_lines)
        else:
            _compare(diff, a, b)
            a, b = _next(a_lines), _next(b_lines)
    count_added(flush=True)
    return diff


def _compare(diff: VersionDiff, a: dict[str, Any], b: dict[str, Any]) -> None:
    changed = False
    if a["data"] != b["data"] or a.get("type") != b.get("type"):
        diff.inputs_data_changed += 1
        diff.note("inputs_data_changed", a["id"])
        changed = True
    old = {x["id"]: x for x in a["annotations"]}
    new = {x["id"]: x for x in b["annotations"]}
    added = new.keys() - old.keys()
    removed = old.keys() - new.keys()
    modified = [k for k in old.keys() & new.keys() if old[k] != new[k]]
    diff.annotations_added += len(added)
    diff.annotations_removed += len(removed)
    diff.annotations_modified += len(modified)
    for kind, ids in (
        ("annotations_added", added),
        ("annotations_removed", removed),
        ("annotations_modified", modified),
    ):
        for ann_id in sorted(ids):
            diff.note(kind, f"{a['id']}/{ann_id}")
    if added or removed or modified:
        diff.inputs_annotations_changed += 1
        diff.note("inputs_annotations_changed", a["id"])
        changed = True
    if not changed:
        diff.inputs_unchanged += 1


def _next(lines: Iterator[dict[str, Any]]) -> dict[str, Any] | None:
    return next(lines, None)
