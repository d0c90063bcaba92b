"""The V2 service: which methods ingestd serves, with the scope each needs, and the one entry
point (`Api.call`) that gRPC and HTTP share: authenticate, authorize, run, answer with the
platform's status codes. Methods not in METHODS answer UNIMPLEMENTED (the generated
servicer's default).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc
from google.protobuf.message_factory import GetMessageClass

from ingestd.api.annotations import AnnotationsApi
from ingestd.api.auth import KeyAuth, authorize
from ingestd.api.cloud_imports import CloudImports
from ingestd.api.convert import status
from ingestd.api.dataset_edits import DatasetEdits
from ingestd.api.datasets import DatasetsApi
from ingestd.api.exports import ExportsApi
from ingestd.api.inputs import InputsApi
from ingestd.app.runtime import Runtime
from pipeline.errors import IngestError
from pipeline.keys import Scope
from pipeline.status import StatusCode

log = logging.getLogger("ingestd.api")

_V2 = svc.DESCRIPTOR.services_by_name["V2"]

# method -> (handler attribute path, scope the key needs; None: any key of the app)
METHODS: dict[str, tuple[str, Scope | None]] = {
    "PostInputs": ("inputs.post_inputs", Scope.POST_INPUTS),
    "GetInputsAddJob": ("inputs.get_inputs_add_job", Scope.GET_INPUTS),
    "ListInputs": ("inputs.list_inputs", Scope.GET_INPUTS),
    "PostInputsSearches": ("inputs.searches.post_inputs_searches", Scope.GET_INPUTS),
    "GetInput": ("inputs.get_input", Scope.GET_INPUTS),
    "GetInputCount": ("inputs.get_input_count", Scope.GET_INPUTS),
    "PatchInputs": ("inputs.patch_inputs", Scope.PATCH_INPUTS),
    "DeleteInputs": ("inputs.delete_inputs", Scope.DELETE_INPUTS),
    "DeleteInput": ("inputs.delete_input", Scope.DELETE_INPUTS),
    "PostAnnotations": ("annotations.post_annotations", Scope.POST_ANNOTATIONS),
    "ListAnnotations": ("annotations.list_annotations", Scope.GET_ANNOTATIONS),
    "PatchAnnotations": ("annotations.patch_annotations", Scope.PATCH_ANNOTATIONS),
    "DeleteAnnotation": ("annotations.delete_annotation", Scope.DELETE_ANNOTATIONS),
    "DeleteAnnotations": ("annotations.delete_annotations", Scope.DELETE_ANNOTATIONS),
    "PostDatasets": ("datasets.post_datasets", Scope.POST_DATASETS),
    "ListDatasets": ("datasets.list_datasets", Scope.GET_DATASETS),
    "GetDataset": ("datasets.get_dataset", Scope.GET_DATASETS),
    "PatchDatasets": ("dataset_edits.patch_datasets", Scope.PATCH_DATASETS),
    "DeleteDatasets": ("dataset_edits.delete_datasets", Scope.DELETE_DATASETS),
    "DeleteDatasetInputs": ("dataset_edits.delete_dataset_inputs", Scope.PATCH_DATASETS),
    "DeleteDatasetVersions": ("dataset_edits.delete_dataset_versions", Scope.DELETE_DATASETS),
    "PostDatasetInputs": ("datasets.post_dataset_inputs", Scope.POST_DATASETS),
    "ListDatasetInputs": ("datasets.list_dataset_inputs", Scope.GET_DATASETS),
    "PostDatasetVersions": ("datasets.post_dataset_versions", Scope.POST_DATASETS),
    "ListDatasetVersions": ("datasets.list_dataset_versions", Scope.GET_DATASETS),
    "GetDatasetVersion": ("datasets.get_dataset_version", Scope.GET_DATASETS),
    "PutDatasetVersionExports": ("exports.put_dataset_version_exports", Scope.POST_DATASETS),
    "PostInputsDataSources": ("cloud_imports.post_inputs_data_sources", Scope.POST_INPUTS),
    "ListInputsExtractionJobs": ("cloud_imports.list_inputs_extraction_jobs", Scope.GET_INPUTS),
    "GetInputsExtractionJob": ("cloud_imports.get_inputs_extraction_job", Scope.GET_INPUTS),
    "CancelInputsExtractionJobs": (
        "cloud_imports.cancel_inputs_extraction_jobs",
        Scope.POST_INPUTS,
    ),
    "GetApp": ("get_app", None),
    "ListApps": ("list_apps", None),
    "GetUser": ("get_user", None),
}


def response_type(method: str) -> type[Any]:
    """The response message class of a V2 method."""
    return GetMessageClass(_V2.methods_by_name[method].output_type)


def request_type(method: str) -> type[Any]:
    return GetMessageClass(_V2.methods_by_name[method].input_type)


class Api:
    """Every served method, by name, for both transports."""

    def __init__(self, runtime: Runtime, wait_s: float = 10.0) -> None:
        self.rt = runtime
        self.auth = KeyAuth(runtime.catalog.keys)
        self.inputs = InputsApi(runtime, wait_s)
        self.datasets = DatasetsApi(runtime, self.inputs.pager)
        self.exports = ExportsApi(runtime)
        self.annotations = AnnotationsApi(runtime, self.inputs.pager)
        self.dataset_edits = DatasetEdits(runtime)
        self.cloud_imports = CloudImports(runtime)

    def close(self) -> None:
        """Stop what runs beside the calls (extraction jobs)."""
        self.cloud_imports.close()

    def call(self, method: str, request: Any, authorization: str | None) -> Any:
        """Run `method` for the caller the authorization header names; errors become the
        response's status, as on the platform."""
        started = time.monotonic()
        target, scope = METHODS[method]
        user = app = ""
        try:
            caller = self.auth.caller(authorization)
            ids = request.user_app_id if request.HasField("user_app_id") else None
            user, app = authorize(
                caller, ids.user_id if ids else "", ids.app_id if ids else "", scope
            )
            response = self._handler(target)(request, user, app)
        except IngestError as exc:
            response = response_type(method)()
            response.status.CopyFrom(status(exc.code, exc.message))
        except Exception:
            log.exception("%s failed", method)
            response = response_type(method)()
            response.status.CopyFrom(
                status(
                    StatusCode.INTERNAL_SERVER_ISSUE, f"{method} failed inside ingestd; see its log"
                )
            )
        log.info(
            json.dumps(
                {
                    "method": method,
                    "user_id": user,
                    "app_id": app,
                    "code": response.status.code,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                }
            )
        )
        return response

    def _handler(self, target: str) -> Callable[[Any, str, str], Any]:
        owner: Any = self
        for part in target.split("."):
            owner = getattr(owner, part)
        return owner

    # -- what the SDK asks when it starts ---------------------------------------------

    def get_app(self, req: svc.GetAppRequest, user: str, app: str) -> Any:
        resp = svc.SingleAppResponse(app=res.App(id=app, user_id=user, name=app))
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def list_apps(self, req: svc.ListAppsRequest, user: str, app: str) -> Any:
        # A key acts for one app, so that is the one app it can see.
        resp = svc.MultiAppResponse(apps=[res.App(id=app, user_id=user, name=app)])
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def get_user(self, req: svc.GetUserRequest, user: str, app: str) -> Any:
        resp = svc.SingleUserResponse(user=res.User(id=user))
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp
