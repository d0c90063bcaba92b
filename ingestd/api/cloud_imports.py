"""Cloud imports through the V2 service: PostInputsDataSources starts an extraction job (the
runner `ingestd import s3` uses, `connectors/importers/extraction_job.py`) in a thread of
its own; List/Get/CancelInputsExtractionJobs read and cancel the job rows in the catalog.

The bucket's credentials come with the request and live only in that job's runner: the job
row records where they came from ("per-job (not stored)"), never their values, and no log
line carries them. The S3 server is INGESTD_SOURCE_ENDPOINT_URL's (AWS when unset).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc
from google.protobuf import json_format
from pydantic import SecretStr, ValidationError

from connectors.importers.dropzone_items import InputTemplate
from connectors.importers.s3_source import S3Credentials, parse_s3_url
from ingestd.api.convert import status, timestamp
from ingestd.api.paging import page_size
from ingestd.app.runtime import Runtime
from pipeline.errors import InputError
from pipeline.ids import check_id
from pipeline.models import ConflictResolution
from pipeline.status import StatusCode

log = logging.getLogger("ingestd.api")
_PROGRESS = (
    "image_inputs_count", "video_inputs_count", "audio_inputs_count", "text_inputs_count",
    "pending_archives_count", "in_progress_archives_count", "completed_archives_count",
    "failed_archives_count",
)  # fmt: skip
_STOP_S = 10.0


class CloudImports:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._threads: list[threading.Thread] = []
        self._stops: list[threading.Event] = []

    def post_inputs_data_sources(
        self, req: svc.PostInputsDataSourcesRequest, user: str, app: str
    ) -> Any:
        if req.call_back_url or req.app_pat:
            raise InputError(
                StatusCode.CONN_INVALID_REQUEST,
                "call_back_url and app_pat are not supported by ingestd; poll "
                "GetInputsExtractionJob instead",
            )
        if not req.data_sources:
            raise InputError(StatusCode.CONN_INVALID_REQUEST, "no data_sources given")
        # All checked before any job starts: a bad one leaves nothing behind.
        planned = [self._plan(n, source) for n, source in enumerate(req.data_sources)]
        resp = svc.MultiInputsAddJobResponse()
        for url, template, conflict, creds in planned:
            job = self.rt.catalog.jobs.create(
                user, app, url, conflict_resolution=conflict.value,
                input_template=template.model_dump(mode="json"), watch=False,
                credentials=creds.source,
            )  # fmt: skip
            self._start(user, app, job["id"], creds)
            added = resp.inputs_add_jobs.add(id=job["id"])
            added.extraction_jobs.append(job_message(job))
            added.status.CopyFrom(status(StatusCode.JOB_QUEUED))
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def _plan(
        self, n: int, source: res.InputsDataSource
    ) -> tuple[str, InputTemplate, ConflictResolution, S3Credentials]:
        where = f"data_sources[{n}]"
        if source.inputs_add_job_id:
            check_id(source.inputs_add_job_id, f"{where}.inputs_add_job_id")
            raise InputError(
                StatusCode.CONN_INVALID_REQUEST,
                f"{where}.inputs_add_job_id: ingestd names the job itself (its id is answered)",
            )
        creds = source.url.credentials
        if creds.HasField("gcp_creds") or creds.HasField("azure_blob_creds"):
            raise InputError(
                StatusCode.CONN_INVALID_REQUEST,
                f"{where}: ingestd imports from S3 (and S3-compatible servers) only",
            )
        try:
            url = parse_s3_url(source.url.url).url
            raw = json_format.MessageToDict(source.input_template, preserving_proto_field_name=True)
            template = InputTemplate.from_reference(raw)
        except (ValueError, ValidationError) as exc:
            raise InputError(StatusCode.CONN_INVALID_REQUEST, f"{where}: {exc}") from None
        for dataset_id in template.dataset_ids:
            check_id(dataset_id, "dataset id")
        conflict = (
            ConflictResolution.SUFFIX
            if source.input_id_conflict_resolution == res.SUFFIX
            else ConflictResolution.SKIP
        )
        s3 = creds.s3_creds
        if bool(s3.id) != bool(s3.secret):
            raise InputError(
                StatusCode.CONN_INVALID_REQUEST,
                f"{where}.url.credentials.s3_creds: give both id and secret (or neither, for "
                "a public bucket)",
            )
        source_s3 = self.rt.settings.source_s3()
        return url, template, conflict, S3Credentials(
            region=s3.region or source_s3.region,
            access_key_id=s3.id or None,
            secret_access_key=SecretStr(s3.secret) if s3.secret else None,
            session_token=SecretStr(s3.token) if s3.token else None,
            endpoint_url=source_s3.endpoint_url,
            anonymous=not s3.id and not self.rt.settings.api_limits.server_credentials,
        )  # fmt: skip

    def _start(self, user: str, app: str, job_id: str, creds: S3Credentials) -> None:
        from connectors.importers.extraction_job import ExtractionJobRunner

        runner = ExtractionJobRunner(
            submit=self.rt.submit, catalog=self.rt.catalog, user_id=user, app_id=app,
            limits=self.rt.settings.limits, config=self.rt.settings.dropzone, job_id=job_id,
            credentials=creds,
        )  # fmt: skip

        def run() -> None:
            try:
                runner.run()  # its failures end the job with their message
            except Exception as exc:  # the runner's own bookkeeping failed: name no secret
                log.error("extraction job %s stopped: %s", job_id, type(exc).__name__)

        thread = threading.Thread(target=run, name=f"extraction-{job_id[:8]}", daemon=True)
        self._stops.append(runner.stop)  # serve's shutdown stops it as a cancel would
        self._threads.append(thread)
        thread.start()

    def close(self) -> None:
        """Stop running jobs (they end cancelled, as on `ingestd jobs cancel`)."""
        for stop in self._stops:
            stop.set()
        deadline = time.monotonic() + _STOP_S  # for them all: a stuck S3 call cannot hold
        for thread in self._threads:  # serve's stop (they are daemons)
            thread.join(max(0.0, deadline - time.monotonic()))

    def list_inputs_extraction_jobs(
        self, req: svc.ListInputsExtractionJobsRequest, user: str, app: str
    ) -> Any:
        page, per_page = page_size(req.page, req.per_page)
        rows = self.rt.catalog.jobs.list_jobs(user, app, limit=page * per_page)
        resp = svc.MultiInputsExtractionJobResponse(
            inputs_extraction_jobs=[job_message(r) for r in rows[(page - 1) * per_page :]]
        )
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def get_inputs_extraction_job(
        self, req: svc.GetInputsExtractionJobRequest, user: str, app: str
    ) -> Any:
        resp = svc.SingleInputsExtractionJobResponse(
            inputs_extraction_job=job_message(self._job(user, app, req.inputs_extraction_job_id))
        )
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def cancel_inputs_extraction_jobs(
        self, req: svc.CancelInputsExtractionJobsRequest, user: str, app: str
    ) -> Any:
        for job_id in req.ids:
            self._job(user, app, job_id)  # every id known before any is cancelled
        resp = svc.MultiInputsExtractionJobResponse()
        for job_id in dict.fromkeys(req.ids):
            row = self.rt.catalog.jobs.cancel(user, app, job_id)
            if row is not None:
                resp.inputs_extraction_jobs.append(job_message(row))
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def _job(self, user: str, app: str, job_id: str) -> dict[str, Any]:
        row = self.rt.catalog.jobs.get(user, app, job_id)
        if row is None:
            raise InputError(
                StatusCode.CONN_DOES_NOT_EXIST, f"no extraction job {job_id!r} in {user}/{app}"
            )
        return row


def job_message(row: dict[str, Any]) -> res.InputsExtractionJob:
    """A job row as the platform's `InputsExtractionJob` (its progress counters)."""
    msg = res.InputsExtractionJob(id=row["id"], url=row["url"])
    msg.status.CopyFrom(status(StatusCode(row["status_code"]), row.get("status_message") or ""))
    for name in _PROGRESS:
        setattr(msg.progress, name, int(row.get(name) or 0))
    if row.get("input_id_conflict_resolution") == ConflictResolution.SUFFIX.value:
        msg.input_id_conflict_resolution = res.SUFFIX
    else:
        msg.input_id_conflict_resolution = res.SKIP
    template = row.get("input_template") or {}
    msg.input_template.dataset_ids.extend(template.get("dataset_ids") or [])
    for c in template.get("concepts") or []:
        msg.input_template.data.concepts.add(id=c["id"], name=c.get("name") or c["id"],
                                             value=c.get("value", 1.0))  # fmt: skip
    if template.get("metadata"):
        msg.input_template.data.metadata.update(template["metadata"])
    for name in ("created_at", "modified_at"):
        ts = timestamp(row.get(name))
        if ts is not None:
            getattr(msg, name).CopyFrom(ts)
    return msg
