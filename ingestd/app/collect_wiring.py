"""The collect stage with its real ports: the catalog, the blob store, HTTP and Python models."""

from __future__ import annotations

from connectors.catalog.sql import SqlCatalog
from connectors.inference import HttpInference
from connectors.python_models import PythonModels
from ingestd.app.settings import Settings
from pipeline.collect.operators.datum import Ports
from pipeline.collect.stage import CollectStage
from pipeline.ports import BlobStore


def collect_stage(
    settings: Settings, catalog: SqlCatalog, blobs: BlobStore, topic: str
) -> CollectStage:
    ports = Ports(
        quotas=catalog.quotas,
        knowledge=catalog.knowledge,
        inference=HttpInference(allow=settings.model_allow),
        python_models=PythonModels(),
        media=blobs.get,
    )
    return CollectStage(
        catalog.collectors,
        ports,
        dead_letters=catalog.record_dead_letter,
        topic=topic,
        refresh_s=settings.collect_refresh_s,
    )
