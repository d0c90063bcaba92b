"""The annotations methods of the V2 service over the catalog's annotations facet
(`connectors/catalog/annotations.py`; the rules are `pipeline/annotation_changes.py`'s)."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import json_format

from ingestd.api.annotation_convert import annotation_json, annotation_status
from ingestd.api.convert import patch_action, status, timestamp
from ingestd.api.paging import Pager, page_size
from ingestd.app.runtime import Runtime
from pipeline.annotation_changes import (
    AnnotationOutcome,
    failed,
    overall,
    prepare_annotations,
)
from pipeline.errors import InputError
from pipeline.records import AnnotationRecord, input_level_id
from pipeline.status import StatusCode


class AnnotationsApi:
    def __init__(self, runtime: Runtime, pager: Pager) -> None:
        self.rt = runtime
        self.pager = pager

    def post_annotations(self, req: svc.PostAnnotationsRequest, user: str, app: str) -> Any:
        _bounded(len(req.annotations), self.rt.settings.limits.batch_inputs)
        items: list[tuple[int, Any]] = []
        refused: dict[int, AnnotationOutcome] = {}
        for n, msg in enumerate(req.annotations):
            try:
                items.append((n, annotation_json(msg, f"annotation {msg.id or f'#{n}'}")))
            except InputError as exc:
                refused[n] = failed(msg.id or f"#{n}", msg.input_id, exc)
        prepared: list[AnnotationRecord | AnnotationOutcome] = prepare_annotations(
            ((req.annotations[n].input_id, doc) for n, doc in items), user_id=user, app_id=app
        )
        stored = iter(self.rt.catalog.annotations.add(user, app, prepared))
        by_index = {n: next(stored) for n, _ in items}
        by_index.update(refused)
        outcomes = [by_index[n] for n in range(len(req.annotations))]
        return self._answer(user, app, outcomes, [req.annotations[n] for n in range(len(outcomes))])

    def list_annotations(self, req: svc.ListAnnotationsRequest, user: str, app: str) -> Any:
        unsupported = [
            name
            for name in ("model_version_ids", "workflow_version_ids", "return_model_output")
            if getattr(req, name)
        ]
        if len(req.user_ids) > 1 or len(req.statuses) > 1:
            unsupported.append("more than one of user_ids or statuses")
        if unsupported:
            raise InputError(
                StatusCode.CONN_INVALID_REQUEST,
                f"ListAnnotations by {', '.join(unsupported)} is not supported by ingestd "
                "(ids, input_ids, one user id, one status, task_id, pages)",
            )
        status_name = annotation_status(req.statuses[0].code, "statuses") if req.statuses else None

        def fetch(after: str, limit: int) -> list[dict[str, Any]]:
            return self.rt.catalog.annotations.list(
                user,
                app,
                input_ids=list(req.input_ids),
                annotation_user_id=req.user_ids[0] if req.user_ids else None,
                status=status_name,
                task_id=req.task_id or None,
                limit=limit,
                after=after,
            ).annotations

        if req.ids:
            found = {r["id"]: r for r in self.rt.catalog.annotations.by_ids(user, app, req.ids)}
            keep = [found[i] for i in dict.fromkeys(req.ids) if i in found]
            keep = [r for r in keep if _matches(r, req)]
            page, per_page = page_size(req.page, req.per_page)
            rows = keep[(page - 1) * per_page : page * per_page]
        else:
            rows = self.pager.page(
                ("annotations", user, app, tuple(req.input_ids), status_name,
                 tuple(req.user_ids), req.task_id),
                fetch,
                req.page,
                req.per_page,
            )  # fmt: skip
        resp = svc.MultiAnnotationResponse(annotations=[annotation_message(r, app) for r in rows])
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def patch_annotations(self, req: svc.PatchAnnotationsRequest, user: str, app: str) -> Any:
        _bounded(len(req.annotations), self.rt.settings.limits.batch_inputs)
        action = patch_action(req.action, StatusCode.ANNOTATION_INVALID_ARGUMENT)
        if req.delete_if_empty_data:
            raise InputError(
                StatusCode.ANNOTATION_INVALID_ARGUMENT,
                "delete_if_empty_data is not supported by ingestd; delete with DeleteAnnotations",
            )
        changes: list[tuple[int, dict[str, Any]]] = []
        refused: dict[int, AnnotationOutcome] = {}
        for n, msg in enumerate(req.annotations):
            try:
                doc = annotation_json(msg, f"annotation {msg.id or f'#{n}'}")
            except InputError as exc:
                refused[n] = failed(msg.id or f"#{n}", msg.input_id, exc)
                continue
            if msg.input_id:
                doc["input_id"] = msg.input_id
            if not msg.data.ListFields():
                doc.pop("data")  # a patch of the status or info alone keeps the shapes
            changes.append((n, doc))
        done = iter(self.rt.catalog.annotations.patch(user, app, [d for _, d in changes], action))
        by_index = {n: next(done) for n, _ in changes}
        by_index.update(refused)
        outcomes = [by_index[n] for n in range(len(req.annotations))]
        return self._answer(user, app, outcomes, list(req.annotations))

    def delete_annotation(self, req: svc.DeleteAnnotationRequest, user: str, app: str) -> Any:
        rows = self.rt.catalog.annotations.by_ids(user, app, [req.annotation_id])
        if not rows or rows[0]["input_id"] != req.input_id:
            raise InputError(
                StatusCode.CONN_DOES_NOT_EXIST,
                f"no annotation {req.annotation_id!r} on input {req.input_id!r} in {user}/{app}",
            )
        return _status_only(self.rt.catalog.annotations.delete(user, app, ids=[req.annotation_id]))

    def delete_annotations(self, req: svc.DeleteAnnotationsRequest, user: str, app: str) -> Any:
        if req.ids and req.input_ids and len(req.ids) != len(req.input_ids):
            raise InputError(
                StatusCode.ANNOTATION_INVALID_ARGUMENT,
                "give ids alone, input_ids alone (every annotation of those inputs), or as "
                "many input_ids as ids (each annotation's input)",
            )
        if req.ids:
            outcomes = self.rt.catalog.annotations.delete(user, app, ids=list(req.ids))
        elif req.input_ids:
            outcomes = self.rt.catalog.annotations.delete(user, app, input_ids=list(req.input_ids))
        else:
            raise InputError(
                StatusCode.ANNOTATION_INVALID_ARGUMENT, "give the ids or input_ids to delete"
            )
        return _status_only(outcomes)

    def _answer(
        self, user: str, app: str, outcomes: list[AnnotationOutcome], sent: list[res.Annotation]
    ) -> svc.MultiAnnotationResponse:
        resp = svc.MultiAnnotationResponse()
        ok_ids = [o.annotation_id for o in outcomes if o.ok]
        stored = {r["id"]: r for r in self.rt.catalog.annotations.by_ids(user, app, ok_ids)}
        for outcome, msg in zip(outcomes, sent, strict=True):
            row = stored.get(outcome.annotation_id)
            out = resp.annotations.add()
            if row is not None:
                out.CopyFrom(annotation_message(row, app))
            else:
                out.CopyFrom(msg)
                out.id = outcome.annotation_id if not outcome.annotation_id.startswith("#") else ""
            out.status.CopyFrom(status(outcome.code, outcome.message))
        resp.status.CopyFrom(status(_overall(outcomes), _detail(outcomes)))
        return resp


def _matches(row: dict[str, Any], req: svc.ListAnnotationsRequest) -> bool:
    """The other filters of a listing by ids."""
    return (
        (not req.input_ids or row["input_id"] in req.input_ids)
        and (not req.user_ids or row["user_id"] in req.user_ids)
        and (not req.statuses or row["status"] == annotation_status(req.statuses[0].code, ""))
        and (not req.task_id or row.get("task_id") == req.task_id)
    )


def _bounded(count: int, limit: int) -> None:
    if count > limit:
        raise InputError(
            StatusCode.ANNOTATION_INVALID_ARGUMENT,
            f"{count} annotations in one request; at most {limit}",
        )
    if not count:
        raise InputError(StatusCode.ANNOTATION_INVALID_ARGUMENT, "no annotations given")


def _overall(outcomes: list[AnnotationOutcome]) -> StatusCode:
    return overall(outcomes) if outcomes else StatusCode.SUCCESS


def _detail(outcomes: list[AnnotationOutcome]) -> str:
    bad = [o for o in outcomes if not o.ok]
    return "; ".join(o.message for o in bad[:3]) + (f" ({len(bad)} failed)" if bad else "")


def _status_only(outcomes: list[AnnotationOutcome]) -> status_pb2.BaseResponse:
    return status_pb2.BaseResponse(status=status(_overall(outcomes), _detail(outcomes)))


def annotation_message(row: dict[str, Any], app_id: str) -> res.Annotation:
    """A stored annotation (`as_platform` shape) as the platform's `Annotation`."""
    msg = res.Annotation(
        id=row["id"],
        input_id=row["input_id"],
        user_id=row.get("user_id") or "",
        task_id=row.get("task_id") or "",
        model_version_id=row.get("model_version_id") or "",
        input_level=row["id"] == input_level_id(app_id, row["input_id"]),
    )
    # Stored data is the platform's JSON; ingestd's own additions (a mask's blob_key) stay out.
    json_format.ParseDict(row.get("data") or {}, msg.data, ignore_unknown_fields=True)
    if row.get("annotation_info"):
        msg.annotation_info.update(row["annotation_info"])
    msg.status.CopyFrom(status(StatusCode[row.get("status") or "ANNOTATION_SUCCESS"]))
    for name in ("created_at", "modified_at"):
        ts = timestamp(row.get(name))
        if ts is not None:
            getattr(msg, name).CopyFrom(ts)
    return msg
