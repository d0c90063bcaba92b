"""Collector documents for the CLI: options and files in, collectors out."""

from __future__ import annotations

from typing import Any

from connectors.catalog.sql import SqlCatalog
from ingestd.cli.documents import DocumentError, load_document
from ingestd.cli.options import coded, console, fail
from pipeline.collect.collectors import SOURCE_FIELDS, Collector
from pipeline.keys import ApiKey
from pipeline.status import StatusCode

_SOURCE_PATH = ("collector_source", "api_post_model_outputs_collector_source")


class Refs:
    """Looks up what a collector names, for check_references."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.keys, self.workflows = catalog.keys, catalog.workflows

    def get_key(self, key_id: str) -> ApiKey | None:
        return self.keys.get(key_id)

    def workflow_exists(self, user_id: str, app_id: str, workflow_id: str) -> bool:
        return self.workflows.exists(user_id, app_id, workflow_id)


def flags_doc(**given: Any) -> dict[str, Any]:
    """A (partial) collector document from the options that were given."""
    names = {
        "description": "description",
        "pre_queue": "pre_queue_workflow_id",
        "post_queue": "post_queue_workflow_id",
        "sample": "pre_queue_random_sample",
        "outputs": "collect_outputs",
        "dataset": "dataset_id",
        "model_user": "model_user_id",
        "model_app": "model_app_id",
        "model": "model_id",
        "version": "model_version_id",
        "key": "post_inputs_key_id",
        "caller": "caller_user_id",
    }
    flat = {names[k]: v for k, v in given.items() if v is not None}
    return nest(flat)


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Put the source's fields (model_id, caller_user_id, ...) where a collector keeps them."""
    doc = {k: v for k, v in flat.items() if k not in SOURCE_FIELDS}
    source = {k: v for k, v in flat.items() if k in SOURCE_FIELDS}
    if source:
        doc[_SOURCE_PATH[0]] = {_SOURCE_PATH[1]: source}
    return doc


def file_doc(file: str | None) -> dict[str, Any]:
    if file is None:
        return {}
    try:
        doc = load_document(file)
    except DocumentError as exc:
        fail(coded(StatusCode.CONN_BAD_REQUEST_FORMAT, str(exc)))
        raise
    if not isinstance(doc, dict):
        fail(f"{file}: a collector document is an object, not {type(doc).__name__}")
    return nest(doc) if any(k in doc for k in SOURCE_FIELDS) else doc


def view(collector: Collector, user_id: str, app_id: str) -> dict[str, Any]:
    return {**collector.model_dump(mode="json"), "user_id": user_id, "app_id": app_id}


def show(collector: Collector, verb: str) -> None:
    s = collector.source
    version = s.model_version_id or "any version"
    fraction = collector.pre_queue_random_sample
    sample = "-" if fraction is None else f"{fraction:g}"
    console.print(f"{verb} collector [bold]{collector.id}[/] ({collector.status.value})")
    console.print(f"  source: {s.model_user_id}/{s.model_app_id}/{s.model_id} ({version})")
    console.print(f"  caller: {s.caller_user_id or 'every caller'}; key: {s.post_inputs_key_id}")
    console.print(
        f"  pre-queue: {collector.pre_queue_workflow_id or '-'}; random sample: {sample}"
        f"; post-queue: {collector.post_queue_workflow_id or '-'}"
    )
    console.print(
        f"  collect outputs: {collector.collect_outputs}; dataset: {collector.dataset_id or '-'}"
    )


def missing(collector_id: str) -> str:
    return coded(StatusCode.COLLECTOR_MISSING, f"no collector {collector_id!r}")
