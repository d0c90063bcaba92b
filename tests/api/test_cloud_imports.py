"""Cloud imports through serve against a real S3 server (moto): PostInputsDataSources starts
an extraction job, List/Get/CancelInputsExtractionJobs follow it; the secret sent with the
request is in no answer, log line or catalog row."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc

from ingestd.api.server import start
from pipeline.keys import Scope
from pipeline.status import StatusCode
from tests.api.conftest import Server
from tests.api.test_grpc import APP, _meta, _stub
from tests.support.dropzone import new_bucket, put_many
from tests.support.kafka_harness import wait_for
from tests.support.s3_server import MotoS3Server
from tests.support.storage import image_bytes, local_settings

SECRET = "S3CR3T-sent-with-the-request-only"


@pytest.fixture
def served(tmp_path: Path, s3: MotoS3Server) -> Iterator[Server]:
    settings = local_settings(
        tmp_path,
        grpc_port=0,
        http_port=0,
        source_endpoint_url=s3.endpoint_url,
        dropzone={"work_dir": str(tmp_path / "extract")},
    )
    running = start(settings)
    try:
        server = Server(running, "")
        server.secret = server.key([Scope.ALL])
        yield server
    finally:
        running.stop()


def _source(url: str, **kw: object) -> res.InputsDataSource:
    source = res.InputsDataSource(
        url=res.DataSourceURL(
            url=url,
            credentials=res.DataSourceCredentials(
                s3_creds=res.AWSCreds(id="testing", secret=SECRET, region="us-east-1")
            ),
        ),
        **kw,
    )
    source.input_template.dataset_ids.append("pets")
    source.input_template.data.concepts.add(id="cat", value=1.0)
    return source


def test_post_inputs_data_sources_runs_an_extraction_job(
    served: Server, s3: MotoS3Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {"p/a.png": image_bytes(), "p/b.txt": b"hello", "q/c.txt": b"no"})
    stub, meta = _stub(served), _meta(served.secret)
    resp = stub.PostInputsDataSources(
        svc.PostInputsDataSourcesRequest(
            user_app_id=APP, data_sources=[_source(f"s3://{bucket}/p/")]
        ),
        metadata=meta,
    )
    assert resp.status.code == StatusCode.SUCCESS, resp.status
    job_id = resp.inputs_add_jobs[0].extraction_jobs[0].id

    def job() -> res.InputsExtractionJob:
        got = stub.GetInputsExtractionJob(
            svc.GetInputsExtractionJobRequest(user_app_id=APP, inputs_extraction_job_id=job_id),
            metadata=meta,
        )
        assert got.status.code == StatusCode.SUCCESS
        return got.inputs_extraction_job

    wait_for(
        lambda: job().status.code == StatusCode.JOB_COMPLETED, 60, "the job to complete", every=0.2
    )
    done = job()
    assert (done.progress.image_inputs_count, done.progress.text_inputs_count) == (1, 1)
    assert list(done.input_template.dataset_ids) == ["pets"]
    catalog = served.served.runtime.catalog
    wait_for(
        lambda: len(catalog.list_inputs("me", "main", dataset_id="pets", limit=10)) == 2,
        30, "both inputs stored", every=0.2,
    )  # fmt: skip
    rows = list(catalog.iter_inputs("me", "main"))
    assert {r["status_code"] for r in rows} == {StatusCode.INPUT_SUCCESS}
    assert all([c["id"] for c in r["concepts"]] == ["cat"] for r in rows)

    listed = stub.ListInputsExtractionJobs(
        svc.ListInputsExtractionJobsRequest(user_app_id=APP), metadata=meta
    )
    assert [j.id for j in listed.inputs_extraction_jobs] == [job_id]
    # A finished job stays as it ended; an unknown id is 404 and cancels nothing.
    cancel = stub.CancelInputsExtractionJobs(
        svc.CancelInputsExtractionJobsRequest(user_app_id=APP, ids=[job_id, "nope"]), metadata=meta
    )
    assert cancel.status.code == StatusCode.CONN_DOES_NOT_EXIST
    late = stub.CancelInputsExtractionJobs(
        svc.CancelInputsExtractionJobsRequest(user_app_id=APP, ids=[job_id]), metadata=meta
    )
    assert late.inputs_extraction_jobs[0].status.code == StatusCode.JOB_COMPLETED

    # The secret is in no answer, no log record and no catalog row.
    answers = str(resp) + str(done) + str(listed) + str(late)
    assert SECRET not in answers and SECRET not in caplog.text
    assert "botocore" in caplog.text  # the S3 client's chatter was captured
    assert SECRET.encode() not in (tmp_path / "catalog.db").read_bytes()


def test_bad_data_sources_start_nothing(served: Server) -> None:
    stub, meta = _stub(served), _meta(served.secret)

    def post(*sources: res.InputsDataSource) -> svc.MultiInputsAddJobResponse:
        request = svc.PostInputsDataSourcesRequest(user_app_id=APP, data_sources=list(sources))
        return stub.PostInputsDataSources(request, metadata=meta)

    not_s3 = post(_source("s3://ok-bucket/p/"), _source("https://example.com/x.zip"))
    assert not_s3.status.code == StatusCode.CONN_INVALID_REQUEST
    assert "data_sources[1]" in not_s3.status.details
    gcp = _source("s3://ok-bucket/p/")
    gcp.url.credentials.gcp_creds = b"{}"
    assert post(gcp).status.code == StatusCode.CONN_INVALID_REQUEST
    half = _source("s3://ok-bucket/p/")
    half.url.credentials.s3_creds.secret = ""
    assert "both id and secret" in post(half).status.details
    assert served.served.runtime.catalog.jobs.list_jobs("me", "main") == []
