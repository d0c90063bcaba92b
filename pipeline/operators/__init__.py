"""Workflow operators by name: the pre-queue filters and samplers, the post-queue models."""

from __future__ import annotations

from pipeline.operators.annotation_writer import AnnotationWriter
from pipeline.operators.base import Operator
from pipeline.operators.filters import MetadataFilter
from pipeline.operators.models import HttpModel, PythonModel
from pipeline.operators.sampling import DetectionsCount, Quota, RandomSample
from pipeline.operators.synonyms import ConceptSynonymMapper
from pipeline.operators.thresholds import (
    CloseToThreshold,
    ConceptThresholder,
    MaxProbabilityBelow,
    MinProbabilityAbove,
    RegionThresholder,
)

OPERATORS: dict[str, type[Operator]] = {
    op.name: op
    for op in (
        RandomSample,
        ConceptThresholder,
        RegionThresholder,
        MaxProbabilityBelow,
        MinProbabilityAbove,
        CloseToThreshold,
        DetectionsCount,
        MetadataFilter,
        ConceptSynonymMapper,
        Quota,
        HttpModel,
        PythonModel,
        AnnotationWriter,
    )
}
