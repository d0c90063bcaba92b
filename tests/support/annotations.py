"""Annotations for the stage tests."""

from __future__ import annotations

from typing import Any

from pipeline.models import Annotation, AnnotationData, BoundingBox, Concept, Region, RegionInfo


def box_annotation(
    box: tuple[float, float, float, float], concept: str = "cat", **fields: Any
) -> Annotation:
    """One region, a bounding box (top_row, left_col, bottom_row, right_col) with one concept."""
    top, left, bottom, right = box
    region = Region(
        region_info=RegionInfo(
            bounding_box=BoundingBox(top_row=top, left_col=left, bottom_row=bottom, right_col=right)
        ),
        data={"concepts": [Concept(id=concept)]},
    )
    return Annotation(data=AnnotationData(regions=[region]), **fields)
