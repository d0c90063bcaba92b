"""The inputs methods of the V2 service over the ingest stage and the catalog.

PostInputs hands one UploadRequest to the transport (the same the CLI and importers send)
and waits a bounded time for its outcome, so small batches answer with each input's final
status; GetInputsAddJob reports the rest. Patching and deleting are the catalog's
(`pipeline/ingest/manage.py` semantics).
"""

from __future__ import annotations

import uuid
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc
from clarifai_grpc.grpc.api.status import status_pb2

from ingestd.api.convert import input_message, input_model, patch_action, status, struct_dict
from ingestd.api.jobs import job_progress
from ingestd.api.paging import Pager
from ingestd.api.searches import SearchesApi
from ingestd.api.settle import Settled, Settler
from ingestd.app.runtime import Runtime
from pipeline.errors import InputError
from pipeline.events import DeadLetter, UploadRequest
from pipeline.ids import check_id
from pipeline.ingest.manage import InputPatch, ManageOutcome, overall
from pipeline.models import Input
from pipeline.records import Action, InputOutcome
from pipeline.search import parse_query
from pipeline.status import StatusCode


class InputsApi:
    def __init__(self, runtime: Runtime, wait_s: float) -> None:
        self.rt = runtime
        self.wait_s = wait_s
        self.pager = Pager()
        self.settler = Settler(runtime)
        self.searches = SearchesApi(runtime, self.pager)

    # -- PostInputs / GetInputsAddJob ---------------------------------------------------

    def post_inputs(self, req: svc.PostInputsRequest, user: str, app: str) -> Any:
        limit = self.rt.settings.limits.batch_inputs
        if len(req.inputs) > limit:
            raise InputError(
                StatusCode.INPUT_INVALID_REQUEST,
                f"{len(req.inputs)} inputs in one request; at most {limit}",
            )
        if not req.inputs:
            raise InputError(StatusCode.INPUT_INVALID_REQUEST, "no inputs to add")
        if req.inputs_add_job_id:
            check_id(req.inputs_add_job_id, "inputs_add_job_id")
        good: list[tuple[int, Input]] = []
        refused: list[InputOutcome] = []
        for n, msg in enumerate(req.inputs):
            try:
                good.append((n, input_model(msg)))
            except InputError as exc:
                refused.append(
                    InputOutcome(n, msg.id, msg.id, Action.FAILED, exc.code, exc.message)
                )
        request = UploadRequest(
            user_id=user,
            app_id=app,
            inputs=[i for _, i in good],
            job_id=req.inputs_add_job_id or None,
            source="api",
        )
        # A request with nothing to submit still needs an id for its refusals.
        request_id = request.request_id if good else uuid.uuid4().hex
        job_id = req.inputs_add_job_id or request_id
        request.job_id = job_id  # the add-job the stage counts its inputs in
        # Recorded before the request is submitted: a poll in between sees it pending.
        self.rt.catalog.add_jobs.record(user, app, job_id, request_id, len(good), refused)
        outcomes: Settled = []
        if good:
            with self.settler.expecting(request_id):
                self.rt.submit(request)
                self.rt.flush()
                outcomes = self.settler.wait(user, app, request_id, self.wait_s)
        return self._post_response(req, good, refused, outcomes, job_id)

    def _post_response(
        self,
        req: svc.PostInputsRequest,
        good: list[tuple[int, Input]],
        refused: list[InputOutcome],
        outcomes: Settled,
        job_id: str,
    ) -> svc.MultiInputResponse:
        by_index: dict[int, tuple[str, StatusCode, str]] = {
            o.index: (o.requested_id, o.code, o.message) for o in refused
        }
        settled = {o.index: o for o in outcomes} if isinstance(outcomes, list) else {}
        for pos, (n, item) in enumerate(good):
            o = settled.get(pos)
            if isinstance(outcomes, DeadLetter):  # the whole request was refused
                by_index[n] = (item.id or "", outcomes.code, outcomes.message)
            elif o is None:
                by_index[n] = (item.id or "", StatusCode.INPUT_PENDING, "")
            else:
                by_index[n] = (o.input_id or item.id or "", o.code, o.message)
        resp = svc.MultiInputResponse()
        failed = 0
        for n, msg in enumerate(req.inputs):
            input_id, code, message = by_index[n]
            out = resp.inputs.add(id=input_id, dataset_ids=list(msg.dataset_ids))
            out.status.CopyFrom(status(code, message))
            failed += code not in (StatusCode.INPUT_SUCCESS, StatusCode.INPUT_PENDING)
        resp.inputs_add_job.id = job_id
        total = len(req.inputs)
        code = (
            StatusCode.SUCCESS
            if failed == 0
            else StatusCode.FAILURE
            if failed == total
            else StatusCode.MIXED_STATUS
        )
        resp.status.CopyFrom(status(code, f"{failed} of {total} inputs failed" if failed else ""))
        return resp

    def get_inputs_add_job(self, req: svc.GetInputsAddJobRequest, user: str, app: str) -> Any:
        progress = job_progress(self.rt.catalog, user, app, check_id(req.id, "job id"))
        if progress is None:
            raise InputError(
                StatusCode.CONN_DOES_NOT_EXIST,
                f"no inputs-add job {req.id!r} in {user}/{app} (`ingestd inputs list` shows "
                "what is stored)",
            )
        resp = svc.SingleInputsAddJobResponse()
        info = resp.inputs_add_job
        info.id = req.id
        p = info.progress
        p.pending_count = progress.pending
        p.in_progress_count = progress.in_progress
        p.success_count = progress.success
        p.failed_count = progress.failed
        code = StatusCode.JOB_COMPLETED if progress.done else StatusCode.JOB_RUNNING
        info.status.CopyFrom(status(code))
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    # -- reading ------------------------------------------------------------------------

    def list_inputs(self, req: svc.ListInputsRequest, user: str, app: str) -> Any:
        wanted = req.status.code if req.HasField("status") and req.status.code else None
        # The status filter and pages are the search's (PostInputsSearches runs the same).
        query = parse_query({"status": [wanted]} if wanted is not None else {})
        if req.ids:
            found = self.rt.catalog.input_rows.by_ids(user, app, list(dict.fromkeys(req.ids)))
            rows = [found[i] for i in dict.fromkeys(req.ids) if i in found]
            rows = [r for r in rows if wanted is None or r["status_code"] == wanted]
            page, per_page = max(req.page, 1), req.per_page or len(rows) or 1
            rows = rows[(page - 1) * per_page : page * per_page]
        else:
            rows = self.searches.rows(user, app, query, req.page, req.per_page)
        resp = svc.MultiInputResponse(inputs=[input_message(r) for r in rows])
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def get_input(self, req: svc.GetInputRequest, user: str, app: str) -> Any:
        row = self.rt.catalog.get_input(user, app, req.input_id)
        if row is None:
            raise InputError(StatusCode.INPUT_DOES_NOT_EXIST, f"no input {req.input_id!r}")
        resp = svc.SingleInputResponse(input=input_message(row))
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def get_input_count(self, req: svc.GetInputCountRequest, user: str, app: str) -> Any:
        counts = self.rt.catalog.input_counts(user, app)
        resp = svc.SingleInputCountResponse()
        for name, value in counts.items():
            setattr(resp.counts, name, value)
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    # -- changing -----------------------------------------------------------------------

    def delete_inputs(self, req: svc.DeleteInputsRequest, user: str, app: str) -> Any:
        return _status_only(self.rt.catalog.inputs.delete_inputs(user, app, list(req.ids)))

    def delete_input(self, req: svc.DeleteInputRequest, user: str, app: str) -> Any:
        return _status_only(self.rt.catalog.inputs.delete_inputs(user, app, [req.input_id]))

    def patch_inputs(self, req: svc.PatchInputsRequest, user: str, app: str) -> Any:
        action = patch_action(req.action, StatusCode.METADATA_INVALID_PATCH_ARGUMENTS)
        outcomes: list[ManageOutcome] = []
        for msg in req.inputs:
            try:
                change = InputPatch(action, _patchable(msg.data))
            except InputError as exc:
                outcomes.append(ManageOutcome(msg.id, exc.code, f"input {msg.id!r}: {exc.message}"))
                continue
            outcomes += self.rt.catalog.inputs.patch_inputs(
                user, app, [msg.id], change, self.rt.settings.limits
            )
        resp = _manage_response(outcomes)
        # The patched inputs as they now are (the platform answers with them).
        for out in resp.inputs:
            row = self.rt.catalog.get_input(user, app, out.id)
            if row is not None:
                out.data.CopyFrom(input_message(row).data)
        return resp


def _patchable(data: res.Data) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if data.concepts:
        out["concepts"] = [
            {"id": c.id or c.name, **({"name": c.name} if c.name else {}), "value": c.value}
            for c in data.concepts
        ]
    if data.HasField("metadata"):
        out["metadata"] = struct_dict(data.metadata)
    if data.HasField("geo"):
        p = data.geo.geo_point
        out["geo"] = {"geo_point": {"latitude": p.latitude, "longitude": p.longitude}}
    return out


def _status_only(outcomes: list[ManageOutcome]) -> status_pb2.BaseResponse:
    """The platform answers deletes with a status alone: what failed is in its details."""
    return status_pb2.BaseResponse(status=_manage_response(outcomes).status)


def _manage_response(outcomes: list[ManageOutcome]) -> svc.MultiInputResponse:
    resp = svc.MultiInputResponse()
    for o in outcomes:
        out = resp.inputs.add(id=o.input_id)
        out.status.CopyFrom(status(o.code, o.message))
    failed = [o for o in outcomes if not o.ok]
    detail = "; ".join(o.message for o in failed[:3])
    resp.status.CopyFrom(status(overall(outcomes) if outcomes else StatusCode.SUCCESS, detail))
    return resp
