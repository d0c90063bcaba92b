"""DatasetVersionMetrics of the reference, counted from the manifest lines of a version.

Plus what the reference's charts and tables show: counts per input type, per concept
(positive tags at any level) and the number of selected annotations.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

METRIC_FIELDS = (
    "inputs_count",
    "unlabeled_inputs_count",
    "inputs_with_metadata_count",
    "inputs_with_geo_count",
    "regions_count",
    "bounding_boxes_count",
    "polygons_count",
    "points_count",
    "masks_count",
    "region_inputs_count",
    "region_frames_count",
    "frames_count",
    "frame_inputs_count",
    "positive_input_tags_count",
    "positive_region_tags_count",
    "positive_frame_tags_count",
)

# What the versions chart stacks "by annotation type": metric field → label.
ANNOTATION_TYPES = {
    "positive_input_tags_count": "concepts",
    "bounding_boxes_count": "bounding boxes",
    "polygons_count": "polygons",
    "masks_count": "masks",
    "points_count": "points",
    "frames_count": "frames",
}

_SHAPES = (
    ("bounding_box", "bounding_boxes_count"),
    ("polygon", "polygons_count"),
    ("point", "points_count"),
    ("mask", "masks_count"),
)


class MetricsCounter:
    """Adds up one version's metrics, one manifest line at a time (constant memory)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter({f: 0 for f in METRIC_FIELDS})
        self.input_types: Counter[str] = Counter()
        self.concepts: Counter[str] = Counter()
        self.annotations = 0

    def add(self, line: dict[str, Any], labeled: bool) -> None:
        c = self.counts
        c["inputs_count"] += 1
        self.input_types[line.get("type") or "unknown"] += 1
        data = line["data"]
        if data.get("metadata"):
            c["inputs_with_metadata_count"] += 1
        if data.get("geo"):
            c["inputs_with_geo_count"] += 1
        if not labeled:
            c["unlabeled_inputs_count"] += 1
        regions_here = frames_here = 0
        for ann in line["annotations"]:
            self.annotations += 1
            body = ann["data"]
            c["positive_input_tags_count"] += self._tags(body.get("concepts"))
            regions_here += self._regions(body.get("regions"))
            for frame in body.get("frames") or ():
                frames_here += 1
                fdata = frame.get("data") or {}
                c["positive_frame_tags_count"] += self._tags(fdata.get("concepts"))
                n = self._regions(fdata.get("regions"))
                regions_here += n
                c["region_frames_count"] += n > 0
        c["frames_count"] += frames_here
        c["region_inputs_count"] += regions_here > 0
        c["frame_inputs_count"] += frames_here > 0

    def _tags(self, concepts: list[dict[str, Any]] | None) -> int:
        n = 0
        for concept in concepts or ():
            if concept.get("value", 1.0) > 0:
                n += 1
                self.concepts[concept["id"]] += 1
        return n

    def _regions(self, regions: list[dict[str, Any]] | None) -> int:
        if not regions:
            return 0
        c = self.counts
        for region in regions:
            info = region.get("region_info") or {}
            for shape, field in _SHAPES:
                if info.get(shape):
                    c[field] += 1
            c["positive_region_tags_count"] += self._tags(
                (region.get("data") or {}).get("concepts")
            )
        c["regions_count"] += len(regions)
        return len(regions)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f: self.counts[f] for f in METRIC_FIELDS}
        out["annotations_count"] = self.annotations
        out["input_types"] = dict(sorted(self.input_types.items()))
        out["concepts"] = dict(sorted(self.concepts.items()))
        return out
