"""The datasets and dataset-versions methods of the V2 service, over the catalog and the
snapshot stage (a version is a SnapshotRequest, as `ingestd datasets versions create` sends)."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc

from ingestd.api.convert import input_message, status, struct_dict, timestamp
from ingestd.api.dataset_edits import dataset_out, outcomes_status
from ingestd.api.paging import Pager
from ingestd.app.runtime import Runtime
from pipeline.errors import InputError
from pipeline.events import SnapshotRequest
from pipeline.ids import check_id
from pipeline.snapshot.metrics import METRIC_FIELDS
from pipeline.snapshot.ports import VersionRow
from pipeline.status import StatusCode


class DatasetsApi:
    def __init__(self, runtime: Runtime, pager: Pager) -> None:
        self.rt = runtime
        self.pager = pager

    def _dataset(self, user: str, app: str, dataset_id: str) -> dict[str, Any]:
        row = self.rt.catalog.get_dataset(user, app, dataset_id)
        if row is None:
            raise InputError(
                StatusCode.CONN_DOES_NOT_EXIST, f"no dataset {dataset_id!r} in {user}/{app}"
            )
        return row

    def post_datasets(self, req: svc.PostDatasetsRequest, user: str, app: str) -> Any:
        for d in req.datasets:
            check_id(d.id, "dataset id")
        for d in req.datasets:
            meta = struct_dict(d.metadata) if d.HasField("metadata") else {}
            self.rt.catalog.create_dataset(user, app, d.id, d.description, meta)
        resp = svc.MultiDatasetResponse(
            datasets=[dataset_out(self._dataset(user, app, d.id), user, app) for d in req.datasets]
        )
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def list_datasets(self, req: svc.ListDatasetsRequest, user: str, app: str) -> Any:
        rows = self.rt.catalog.list_datasets(user, app)
        page, per_page = max(req.page, 1), req.per_page or 128
        rows = rows[(page - 1) * per_page : page * per_page]
        resp = svc.MultiDatasetResponse(datasets=[dataset_out(r, user, app) for r in rows])
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def get_dataset(self, req: svc.GetDatasetRequest, user: str, app: str) -> Any:
        resp = svc.SingleDatasetResponse(
            dataset=dataset_out(self._dataset(user, app, req.dataset_id), user, app)
        )
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def post_dataset_inputs(self, req: svc.PostDatasetInputsRequest, user: str, app: str) -> Any:
        """Add stored inputs to a dataset: each answered (64100 added, 64101 already there,
        30102 not stored, 30... failed inputs), as `ingestd datasets add`."""
        ids = [d.input.id for d in req.dataset_inputs]
        outcomes = self.rt.catalog.datasets.add_inputs(user, app, req.dataset_id, ids)
        if outcomes is None:
            raise InputError(
                StatusCode.CONN_DOES_NOT_EXIST, f"no dataset {req.dataset_id!r} in {user}/{app}"
            )
        by_id = {o.input_id: o for o in outcomes}
        resp = svc.MultiDatasetInputResponse()
        for input_id in ids:
            item = resp.dataset_inputs.add()
            item.input.id = input_id
            item.input.status.CopyFrom(status(by_id[input_id].code, by_id[input_id].message))
        resp.status.CopyFrom(outcomes_status(outcomes))
        return resp

    def list_dataset_inputs(self, req: svc.ListDatasetInputsRequest, user: str, app: str) -> Any:
        self._dataset(user, app, req.dataset_id)
        rows = self.pager.page(
            ("dataset-inputs", user, app, req.dataset_id),
            lambda after, limit: self.rt.catalog.list_inputs(
                user, app, after_id=after, limit=limit, dataset_id=req.dataset_id
            ),
            req.page,
            req.per_page,
        )
        resp = svc.MultiDatasetInputResponse()
        for r in rows:
            item = resp.dataset_inputs.add()
            item.input.CopyFrom(input_message(r))
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    # -- versions -----------------------------------------------------------------------

    def post_dataset_versions(
        self, req: svc.PostDatasetVersionsRequest, user: str, app: str
    ) -> Any:
        """Queue a SnapshotRequest per version; the snapshot stage freezes them."""
        self._dataset(user, app, req.dataset_id)
        resp = svc.MultiDatasetVersionResponse()
        for v in req.dataset_versions or [res.DatasetVersion()]:
            request = SnapshotRequest(
                user_id=user,
                app_id=app,
                dataset_id=req.dataset_id,
                description=v.description,
                metadata=struct_dict(v.metadata) if v.HasField("metadata") else {},
                **({"version_id": check_id(v.id, "dataset version id")} if v.id else {}),
            )
            self.rt.publish(request)
            out = resp.dataset_versions.add(
                id=request.version_id, dataset_id=req.dataset_id, user_id=user, app_id=app
            )
            out.status.CopyFrom(status(StatusCode.DATASET_VERSION_PENDING))
        self.rt.flush()
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def list_dataset_versions(
        self, req: svc.ListDatasetVersionsRequest, user: str, app: str
    ) -> Any:
        self._dataset(user, app, req.dataset_id)
        rows = self.rt.catalog.versions.list_versions(user, app, req.dataset_id)
        page, per_page = max(req.page, 1), req.per_page or 128
        resp = svc.MultiDatasetVersionResponse(
            dataset_versions=[_version(r) for r in rows[(page - 1) * per_page : page * per_page]]
        )
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def get_dataset_version(self, req: svc.GetDatasetVersionRequest, user: str, app: str) -> Any:
        row = self.rt.catalog.versions.get_version(user, app, req.dataset_version_id)
        if row is None or (req.dataset_id and row.dataset_id != req.dataset_id):
            raise InputError(
                StatusCode.CONN_DOES_NOT_EXIST,
                f"no version {req.dataset_version_id!r} of dataset {req.dataset_id!r}",
            )
        resp = svc.SingleDatasetVersionResponse(dataset_version=_version(row))
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp


def _version(row: VersionRow) -> res.DatasetVersion:
    msg = res.DatasetVersion(
        id=row.id,
        dataset_id=row.dataset_id,
        user_id=row.user_id,
        app_id=row.app_id,
        description=row.description,
        request_origin=row.request_origin,
    )
    msg.status.CopyFrom(status(StatusCode(row.status_code), row.status_message))
    if row.metrics:  # the platform's metrics map: "/" is the whole version
        whole = msg.metrics["/"]
        for name in METRIC_FIELDS:
            getattr(whole, name).value = int(row.metrics.get(name) or 0)
    for name in ("created_at", "modified_at"):
        ts = timestamp(getattr(row, name))
        if ts is not None:
            getattr(msg, name).CopyFrom(ts)
    return msg
