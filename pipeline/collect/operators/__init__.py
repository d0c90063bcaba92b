"""Workflow operators by name: the pre-queue filters and samplers, the post-queue models."""

from __future__ import annotations

from pipeline.collect.operators.annotation_writer import AnnotationWriter
from pipeline.collect.operators.base import Operator
from pipeline.collect.operators.filters import MetadataFilter
from pipeline.collect.operators.models import HttpModel, PythonModel
from pipeline.collect.operators.sampling import DetectionsCount, Quota, RandomSample
from pipeline.collect.operators.synonyms import ConceptSynonymMapper
from pipeline.collect.operators.thresholds import (
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
