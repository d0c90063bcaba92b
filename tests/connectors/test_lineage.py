"""Lineage in the catalog: refusals of importers, captures, S3 objects, what producers send."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.importers.dropzone_items import input_id_for
from ingestd.app.runtime import Runtime
from pipeline.events import UploadRequest
from pipeline.models import LINEAGE_URI_CHARS, Data, Input, Lineage, Text
from pipeline.records import Refusal
from tests.support.collectors import APP, USER, make_collector, make_key, prediction, settle
from tests.support.dropzone import new_bucket, put_many, run_job
from tests.support.s3_server import MotoS3Server
from tests.support.storage import image_bytes

SECRET_URL = "https://alice:PWSECRET@example.com/a.jpg?token=TOKSECRET&size=2"


def store_text(rt: Runtime, input_id: str, lineage: Lineage | None = None) -> None:
    item = Input(id=input_id, data=Data(text=Text(raw=f"text of {input_id}")), lineage=lineage)
    rt.submit(UploadRequest(inputs=[item], source="api", run_id="run-api"))
    rt.bus.join()


def test_refused_items_are_failed_inputs_and_never_replace_a_good_one(runtime: Runtime) -> None:
    store_text(runtime, "good")

    def refusal(key: str, input_id: str | None, uri: str | None = None) -> Refusal:
        return Refusal(key, input_id, 30101, f"{key}: unsupported", "folder", "run-1", None, uri)

    runtime.catalog.refusals.record(
        "me",
        "main",
        [
            refusal("x.bin", "x.bin-1", SECRET_URL),
            refusal("good.txt", "good"),  # a good input stays as it is
            refusal("bad/id.txt", "bad/id"),  # an id the catalog cannot hold
            refusal("unlisted", None),  # no id at all
        ],
    )
    failed = {r["id"]: r for r in runtime.catalog.list_inputs("me", "main", failed_only=True)}
    assert set(failed) == {"x.bin-1", "bad/id", "folder/unlisted"}
    row = runtime.catalog.get_input("me", "main", "x.bin-1")
    assert row is not None and row["status_code"] == 30101 and row["run_id"] == "run-1"
    assert row["source_uri"] == "https://example.com/a.jpg?size=2"  # no credentials
    assert row["source"] == "folder" and row["blob_key"] is None
    good = runtime.catalog.get_input("me", "main", "good")
    assert good is not None and good["status_code"] == 30000 and good["run_id"] == "run-api"
    assert runtime.catalog.input_counts("me", "main")["errors"] == 3

    # Recorded again (a rerun): still one record each; stored later: replaced.
    runtime.catalog.refusals.record("me", "main", [refusal("x.bin", "x.bin-1")])
    store_text(runtime, "x.bin-1")
    row = runtime.catalog.get_input("me", "main", "x.bin-1")
    assert row is not None and row["status_code"] == 30000 and row["run_id"] == "run-api"
    assert runtime.catalog.input_counts("me", "main")["errors"] == 2


def test_lineage_a_producer_sends_is_kept_without_credentials_and_cut_when_absurd(
    embedded: Runtime,
) -> None:
    store_text(embedded, "sent", Lineage(source_uri=SECRET_URL, source_etag="abc"))
    view = embedded.catalog.lineage.get("me", "main", "sent")
    assert view is not None
    assert view["source_uri"] == "https://example.com/a.jpg?size=2"
    assert (view["source_etag"], view["run_id"], view["source"]) == ("abc", "run-api", "api")
    # Lineage never refuses an input: a URI past the bound is kept cut.
    assert len(Lineage(source_uri="x" * 100_000).source_uri or "") == LINEAGE_URI_CHARS
    assert embedded.catalog.lineage.get("me", "main", "nothing") is None


def test_a_capture_names_its_collector_and_prediction_event(embedded: Runtime) -> None:
    make_collector(embedded, "c1", make_key(embedded), pre_queue_random_sample=1.0)
    embedded.publish(prediction("e1"))
    settle(embedded)
    [row] = embedded.catalog.list_inputs(USER, APP)
    view = embedded.catalog.lineage.get(USER, APP, row["id"])
    assert view is not None
    assert (view["source"], view["collector_id"], view["event_id"]) == ("collector", "c1", "e1")


@pytest.mark.s3
def test_s3_objects_carry_their_uri_etag_and_run(
    embedded: Runtime, s3: MotoS3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {"in/a.jpg": image_bytes(), "in/x.bin": b"\x00\x01" * 20})
    etag = client.head_object(Bucket=bucket, Key="in/a.jpg")["ETag"].strip('"')
    outcome = run_job(embedded, s3, f"s3://{bucket}/in/", tmp_path)
    assert outcome.run_id.startswith("run-") and outcome.to_dict()["run_id"] == outcome.run_id
    a = embedded.catalog.lineage.get("me", "main", input_id_for(bucket, "in/a.jpg"))
    assert a is not None
    assert (a["source_uri"], a["source_etag"]) == (f"s3://{bucket}/in/a.jpg", etag)
    assert (a["source"], a["run_id"], a["job_id"]) == ("s3", outcome.run_id, outcome.job["id"])
    # Refused before the stage (unsupported), and recorded with where it came from.
    x = embedded.catalog.get_input("me", "main", input_id_for(bucket, "in/x.bin"))
    assert x is not None and x["status_code"] == 30101
    assert x["source_uri"] == f"s3://{bucket}/in/x.bin" and x["run_id"] == outcome.run_id
