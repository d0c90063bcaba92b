"""Changing datasets through the V2 service: PatchDatasets, DeleteDatasets,
DeleteDatasetInputs and DeleteDatasetVersions, over the catalog's datasets and versions
facets (the same edits as `ingestd datasets update|delete|remove` and `versions delete`).

A dataset's default annotation filter is the platform's `AnnotationFilter`; its search
holds filters on annotations, of which ingestd keeps the user, the model version and
the status (several filters on one of them: any of their values). Any other part of the
search is refused (40002), never dropped.
"""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc
from clarifai_grpc.grpc.api.status import status_pb2

from ingestd.api.convert import dataset_message, patch_action, status, struct_dict
from ingestd.app.runtime import Runtime
from pipeline.errors import InputError
from pipeline.ingest.datasets import DatasetUpdate
from pipeline.ingest.manage import ManageOutcome, overall
from pipeline.patching import PatchAction
from pipeline.snapshot.filter import FilterConfigError, parse_filter_config
from pipeline.snapshot.manifest import version_prefix
from pipeline.snapshot.stage import IN_PROGRESS, PENDING
from pipeline.status import StatusCode

_FILTER_FIELDS = {"user_id": "user_ids", "model_version_id": "model_version_ids"}


class DatasetEdits:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def patch_datasets(self, req: svc.PatchDatasetsRequest, user: str, app: str) -> Any:
        action = patch_action(req.action, StatusCode.METADATA_INVALID_PATCH_ARGUMENTS)
        changes = [(d.id, self._update(d, action, user, app)) for d in req.datasets]
        resp = svc.MultiDatasetResponse()
        limits = self.rt.settings.limits
        for dataset_id, change in changes:  # each checked above: none applied if one is bad
            row = self.rt.catalog.datasets.update(user, app, dataset_id, change, limits)
            if row is None:
                raise InputError(
                    StatusCode.CONN_DOES_NOT_EXIST, f"no dataset {dataset_id!r} in {user}/{app}"
                )
            resp.datasets.append(dataset_out(row, user, app))
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def _update(self, d: res.Dataset, action: PatchAction, user: str, app: str) -> DatasetUpdate:
        row = self.rt.catalog.get_dataset(user, app, d.id)
        if row is None:
            raise InputError(StatusCode.CONN_DOES_NOT_EXIST, f"no dataset {d.id!r} in {user}/{app}")
        fields: dict[str, Any] = {"action": action}
        if d.description:
            fields["description"] = d.description
        if d.HasField("metadata"):
            fields["metadata"] = struct_dict(d.metadata)
        if d.HasField("default_annotation_filter"):
            given = filter_config(d.default_annotation_filter)
            fields["default_filter"] = self._new_filter(user, app, d.id, action, given)
        change = DatasetUpdate(**fields)
        if change.empty:
            raise InputError(
                StatusCode.METADATA_INVALID_PATCH_ARGUMENTS,
                f"dataset {d.id!r}: nothing to change (description, metadata or "
                "default_annotation_filter)",
            )
        change.new_metadata(row.get("metadata") or {}, self.rt.settings.limits)  # refused now
        return change

    def _new_filter(
        self, user: str, app: str, dataset_id: str, action: PatchAction, given: dict[str, Any]
    ) -> dict[str, Any] | None:
        """merge: the lists of both; overwrite: the given one; remove: none. The filter's
        ignore_empty_inputs (not in the platform's message) stays as it was."""
        if action is PatchAction.REMOVE:
            return None
        _, raw = self.rt.catalog.versions.dataset_default_filter(user, app, dataset_id)
        current = parse_filter_config(raw, "the dataset's default filter").model_dump(mode="json")
        ignore = current["ignore_empty_inputs"]
        if action is PatchAction.OVERWRITE:
            return {**given, "ignore_empty_inputs": ignore}
        merged = dict(current["annotation_filter"])
        for name, values in given["annotation_filter"].items():
            if isinstance(values, list):
                merged[name] = list(dict.fromkeys([*merged.get(name, []), *values]))
        return {"annotation_filter": merged, "ignore_empty_inputs": ignore}

    def delete_datasets(self, req: svc.DeleteDatasetsRequest, user: str, app: str) -> Any:
        """Delete the datasets (their inputs and ready versions stay); all or none."""
        ids = list(dict.fromkeys(req.dataset_ids))
        missing = [i for i in ids if self.rt.catalog.get_dataset(user, app, i) is None]
        if missing or not ids:
            raise InputError(
                StatusCode.CONN_DOES_NOT_EXIST,
                f"no dataset {missing[0]!r} in {user}/{app}; nothing deleted"
                if missing
                else "give the dataset_ids to delete",
            )
        for dataset_id in ids:
            self.rt.catalog.datasets.delete(user, app, dataset_id)
        return status_pb2.BaseResponse(status=status(StatusCode.SUCCESS))

    def delete_dataset_inputs(
        self, req: svc.DeleteDatasetInputsRequest, user: str, app: str
    ) -> Any:
        """Take inputs out of the dataset; they stay stored."""
        outcomes = self.rt.catalog.datasets.remove_inputs(
            user, app, req.dataset_id, list(req.input_ids)
        )
        if outcomes is None:
            raise InputError(
                StatusCode.CONN_DOES_NOT_EXIST, f"no dataset {req.dataset_id!r} in {user}/{app}"
            )
        return status_pb2.BaseResponse(status=outcomes_status(outcomes))

    def delete_dataset_versions(
        self, req: svc.DeleteDatasetVersionsRequest, user: str, app: str
    ) -> Any:
        """Delete versions with their manifests and exports; one still being built is
        refused (64030), as `ingestd datasets versions delete` without --force."""
        rows = []
        for version_id in dict.fromkeys(req.dataset_version_ids):
            row = self.rt.catalog.versions.get_version(user, app, version_id)
            if row is None or row.dataset_id != req.dataset_id:
                raise InputError(
                    StatusCode.CONN_DOES_NOT_EXIST,
                    f"no version {version_id!r} of dataset {req.dataset_id!r}; nothing deleted",
                )
            if row.status_code in (PENDING, IN_PROGRESS):
                raise InputError(
                    StatusCode.DATASET_VERSION_CONFLICT,
                    f"version {version_id!r} is still being built; delete it once it is "
                    "ready or failed (nothing deleted)",
                )
            rows.append(row)
        for row in rows:
            self.rt.catalog.versions.delete_version(user, app, row.id)
            prefix = version_prefix(user, app, row.dataset_id, row.id) + "/"
            for key in list(self.rt.blobs.keys(prefix)):
                self.rt.blobs.delete(key)
        return status_pb2.BaseResponse(status=status(StatusCode.SUCCESS))


def dataset_out(row: dict[str, Any], user: str, app: str) -> res.Dataset:
    """A dataset row as the platform's `Dataset`, its default filter included."""
    msg = dataset_message(row, user, app)
    config = filter_message(row.get("default_filter"))
    if config is not None:
        msg.default_annotation_filter.CopyFrom(config)
    return msg


def outcomes_status(outcomes: list[ManageOutcome]) -> status_pb2.Status:
    failed = [o for o in outcomes if not o.ok]
    detail = "; ".join(f"{o.input_id}: {o.message}" for o in failed[:3])
    return status(overall(outcomes) if outcomes else StatusCode.SUCCESS, detail)


def filter_config(msg: res.AnnotationFilter) -> dict[str, Any]:
    """The platform's annotation filter as ingestd's filter config (`snapshot/filter.py`)."""
    unknown = [f.name for f, _ in msg.ListFields() if f.name not in ("search", "id")]
    search = msg.search
    unknown += [f"search.{f.name}" for f, _ in search.ListFields() if f.name != "query"]
    unknown += [
        f"search.query.{f.name}" for f, _ in search.query.ListFields() if f.name != "filters"
    ]
    kept: dict[str, list[str]] = {"user_ids": [], "model_version_ids": [], "statuses": []}
    for n, f in enumerate(search.query.filters):
        where = f"search.query.filters[{n}]"
        unknown += [f"{where}.{x.name}" for x, _ in f.ListFields() if x.name != "annotation"]
        for field, value in f.annotation.ListFields():
            if field.name in _FILTER_FIELDS:
                kept[_FILTER_FIELDS[field.name]].append(value)
            elif field.name == "status" and value.code:
                kept["statuses"].append(_status_name(value.code))
            else:
                unknown.append(f"{where}.annotation.{field.name}")
    if unknown:
        raise InputError(
            StatusCode.SEARCH_INVALID_REQUEST,
            f"default_annotation_filter: {', '.join(unknown)} not supported by ingestd (filters "
            "on an annotation's user_id, model_version_id and status)",
        )
    raw = {"annotation_filter": kept}
    try:
        return parse_filter_config(raw, "default_annotation_filter").model_dump(mode="json")
    except FilterConfigError as exc:
        raise InputError(StatusCode.SEARCH_INVALID_REQUEST, str(exc)) from None


def _status_name(code: int) -> str:
    try:
        return StatusCode(code).name
    except ValueError:
        return str(code)  # the filter's check names it as unknown


def filter_message(config: dict[str, Any] | None) -> res.AnnotationFilter | None:
    """ingestd's stored filter as the platform's (the way `filter_config` reads it)."""
    if not config:
        return None
    parsed = parse_filter_config(config, "the dataset's default filter")
    msg = res.AnnotationFilter()
    filters = msg.search.query.filters
    f = parsed.annotation_filter
    for user_id in f.user_ids:
        filters.add().annotation.user_id = user_id
    for model_version_id in f.model_version_ids:
        filters.add().annotation.model_version_id = model_version_id
    for name in f.statuses:
        filters.add().annotation.status.code = int(StatusCode[name])
    return msg
