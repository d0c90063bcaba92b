"""Extraction jobs on S3 servers over HTTP (moto's and versitygw): prefixes, pages, archives,
re-runs, conflicts."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.importers.dropzone_items import InputTemplate, input_id_for, origin_id, shown
from connectors.importers.s3_source import parse_s3_url
from ingestd.app.runtime import Runtime
from pipeline.events import UploadRequest
from pipeline.models import Concept, Data, Input, Text
from pipeline.status import StatusCode
from tests.support.dropzone import count_gets, job_inputs, new_bucket, put_many, run_job, runner_for
from tests.support.s3_server import S3Server
from tests.support.storage import image_bytes, make_settings
from tests.support.versitygw import VersityGateway


@pytest.fixture
def s3(each_s3: S3Server) -> S3Server:
    """Every test here runs on moto's S3 server and on versitygw (drop zone and blob store)."""
    return each_s3


@pytest.fixture
def rt(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    combo = getattr(request, "param", "sqlite-local")
    catalog, blobs = combo.split("-")
    if catalog == "postgres":
        request.applymarker(pytest.mark.postgres)
    runtime = Runtime.open(make_settings(tmp_path, catalog, blobs, request))
    try:
        yield runtime
    finally:
        runtime.close()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_url_is_a_filter_prefix_exactly_as_the_reference_says(
    rt: Runtime, s3: S3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(s3)
    taken = {
        "images_folder/abcImage.png": image_bytes("PNG"),
        "images_folder/abc-1/deeper/x.jpg": image_bytes(),
        "images_folder/abc/y.txt": b"a subfolder beginning with abc",
        "images_folder/abc odd +%20é.txt": b"a key that needs URL encoding",
    }
    left = {
        "images_folder/xabc.png": image_bytes("PNG"),
        "images_folder/ab.png": image_bytes("PNG"),
        "images_folder/ABCimage.png": image_bytes("PNG"),
        "other/abcImage.png": image_bytes("PNG"),
    }
    put_many(client, bucket, {**taken, **left, "images_folder/abc-1/": b""})
    client.put_object(
        Bucket=bucket,
        Key="images_folder/abc-1/Data.zip",
        Body=zip_bytes({"cats/c.jpg": image_bytes(color="blue"), "note.txt": b"hi"}),
    )
    # The reference writes `s3:/bucket/...`; both spellings name the same prefix.
    assert parse_s3_url(f"s3:/{bucket}/images_folder/abc") == parse_s3_url(
        f"s3://{bucket}/images_folder/abc"
    )
    out = run_job(rt, s3, f"s3://{bucket}/images_folder/abc", tmp_path)
    assert out.job["status_code"] == StatusCode.JOB_COMPLETED, out.job
    expected = {input_id_for(bucket, k) for k in taken} | {
        input_id_for(bucket, "images_folder/abc-1/Data.zip", m) for m in ("cats/c.jpg", "note.txt")
    }
    assert set(job_inputs(rt)) == expected
    assert out.job["listed_objects_count"] == 5  # the directory marker is not an object
    assert out.job["image_inputs_count"] == 3 and out.job["text_inputs_count"] == 3
    assert out.job["completed_archives_count"] == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "rt,texts,page", [("sqlite-local", 2000, 1000), ("postgres-s3", 240, 100)], indirect=["rt"]
)
def test_thousands_of_keys_across_pages_and_a_rerun_reads_nothing(
    rt: Runtime, s3: S3Server, tmp_path: Path, texts: int, page: int
) -> None:
    client, bucket = new_bucket(s3)
    objects = {f"drop/{n:05d}.txt": f"note {n}\n".encode() for n in range(texts)}
    objects.update({f"drop/img/{n:03d}.jpg": image_bytes(color="green") for n in range(60)})
    put_many(client, bucket, objects)
    total = len(objects)
    runner = runner_for(rt, s3, f"s3://{bucket}/drop/", tmp_path, page_size=page)
    lists: list[dict] = []
    runner.client.meta.events.register(
        "provide-client-params.s3.ListObjectsV2", lambda params, **_: lists.append(dict(params))
    )
    out = runner.run()
    assert len(lists) == -(-total // page) >= 3  # streamed page by page
    assert out.job["status_code"] == StatusCode.JOB_COMPLETED
    assert out.actions == {"created": total}
    assert out.job["text_inputs_count"] == texts and out.job["image_inputs_count"] == 60
    stored = job_inputs(rt)
    assert len(stored) == total

    again = runner_for(rt, s3, f"s3://{bucket}/drop/", tmp_path, page_size=page)
    gets = count_gets(again)
    out2 = again.run()
    assert out2.job["status_code"] == StatusCode.JOB_COMPLETED
    assert gets == [] and out2.requests == 0 and sum(out2.actions.values()) == 0
    assert out2.job["unchanged_objects_count"] == total
    after = job_inputs(rt)
    assert {k: v["modified_at"] for k, v in after.items()} == {
        k: v["modified_at"] for k, v in stored.items()
    }


def test_changed_object_updates_its_input_and_only_it_is_read(
    rt: Runtime, s3: S3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {"a.jpg": image_bytes(color="red"), "b.jpg": image_bytes()})
    run_job(rt, s3, f"s3://{bucket}/", tmp_path)
    a_id = input_id_for(bucket, "a.jpg")
    before = rt.catalog.get_input("me", "main", a_id)
    assert before is not None
    client.put_object(Bucket=bucket, Key="a.jpg", Body=image_bytes(color="blue"))
    runner = runner_for(rt, s3, f"s3://{bucket}/", tmp_path)
    gets = count_gets(runner)
    out = runner.run()
    assert out.actions == {"updated": 1}
    assert gets == ["a.jpg"]
    after = rt.catalog.get_input("me", "main", a_id)
    assert after is not None and after["sha256"] != before["sha256"]
    assert after["job_id"] == out.job["id"]
    assert len(job_inputs(rt)) == 2


def test_template_applies_to_every_input_and_conflicts_skip_or_suffix(
    rt: Runtime, s3: S3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {"in/a.jpg": image_bytes(), "in/b.txt": b"words"})
    taken = input_id_for(bucket, "in/a.jpg")
    # Someone else's input already has the id the job derives for in/a.jpg.
    rt.ingest.handle(UploadRequest(inputs=[Input(id=taken, data=Data(text=Text(raw="unrelated")))]))
    template = InputTemplate.from_reference(
        {
            "data": {"concepts": [{"id": "cat", "value": 1}], "metadata": {"batch": 7}},
            "dataset_ids": ["pets"],
        }
    )
    out = run_job(rt, s3, f"s3://{bucket}/in/", tmp_path, template=template)
    assert out.actions == {"created": 1, "skipped": 1}
    assert out.codes["40010 DATABASE_DUPLICATE_KEY"] == 1
    b = rt.catalog.get_input("me", "main", input_id_for(bucket, "in/b.txt"))
    assert b is not None
    assert b["concepts"] == [{"id": "cat", "value": 1.0}]
    assert b["metadata"] == {"batch": 7} and b["dataset_ids"] == ["pets"]
    untouched = rt.catalog.get_input("me", "main", taken)
    assert untouched is not None and untouched["media_type"] == "text"

    out2 = run_job(rt, s3, f"s3://{bucket}/in/", tmp_path, template=template, conflict="SUFFIX")
    assert out2.actions == {"created": 1}  # b.txt is unchanged in the ledger: not even read
    suffixed = rt.catalog.get_input("me", "main", f"{taken}-1")
    assert suffixed is not None and suffixed["media_type"] == "image"
    assert suffixed["dataset_ids"] == ["pets"]
    out3 = run_job(rt, s3, f"s3://{bucket}/in/", tmp_path, template=template, conflict="SUFFIX")
    assert sum(out3.actions.values()) == 0 and out3.job["unchanged_objects_count"] == 2
    assert f"{taken}-2" not in job_inputs(rt)


def test_archives_good_and_hostile_through_s3(rt: Runtime, s3: S3Server, tmp_path: Path) -> None:
    client, bucket = new_bucket(s3)
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("ok.jpg", image_bytes())
        zf.writestr("../../../../escaped.txt", b"pwned")
    bomb = tar_bytes({"zeros.txt": b"\x00" * (3 * 1024 * 1024)})
    put_many(
        client,
        bucket,
        {
            "z/good.zip": zip_bytes(
                {
                    "a.jpg": image_bytes(),
                    "t/b.txt": b"text",
                    "inner.zip": zip_bytes({"x.jpg": image_bytes()}),
                    "blob.bin": b"\x00\x01\x02" * 50,
                }
            ),
            "z/good.tar": tar_bytes({"c.png": image_bytes("PNG")}, mode="w"),
            "z/evil.zip": evil.getvalue(),
            "z/bomb.tgz": bomb,
        },
    )
    limits = {"max_ratio": 20.0, "ratio_floor": 1024 * 1024}
    out = run_job(
        rt,
        s3,
        f"s3://{bucket}/z/",
        tmp_path,
        archives=rt.settings.dropzone.archives.model_copy(update=limits),
    )
    job = out.job
    assert (job["completed_archives_count"], job["failed_archives_count"]) == (2, 2)
    assert job["pending_archives_count"] == job["in_progress_archives_count"] == 0
    failures = {f["item"].split("/z/")[1]: (f["code"], f["message"]) for f in out.failures}
    assert failures["evil.zip"][0] == StatusCode.ARCHIVE_EXTRACT_FAILED
    assert "climbs out" in failures["evil.zip"][1]
    assert "ratio" in failures["bomb.tgz"][1]
    assert failures["good.zip#inner.zip"][0] == StatusCode.ARCHIVE_EXTRACT_FAILED
    assert "inside an archive" in failures["good.zip#inner.zip"][1]
    assert failures["good.zip#blob.bin"][0] == StatusCode.INPUT_UNSUPPORTED_FORMAT
    rows = job_inputs(rt)
    stored = {k for k, r in rows.items() if r["status_code"] == StatusCode.INPUT_SUCCESS}
    # What was refused before the ingest stage is recorded with its code, nothing stored.
    assert rows[input_id_for(bucket, "z/evil.zip")]["status_code"] == 67000
    assert rows[input_id_for(bucket, "z/evil.zip")]["blob_key"] is None
    assert stored == {
        input_id_for(bucket, "z/good.zip", "a.jpg"),
        input_id_for(bucket, "z/good.zip", "t/b.txt"),
        input_id_for(bucket, "z/good.tar", "c.png"),
    }  # nothing from evil.zip, not even its harmless ok.jpg
    assert not list(tmp_path.rglob("escaped.txt")) and not Path("/escaped.txt").exists()
    assert not (tmp_path / "extract" / job["id"]).exists()  # the extraction area is cleaned

    again = run_job(rt, s3, f"s3://{bucket}/z/", tmp_path)
    assert again.job["unchanged_objects_count"] == 4 and again.requests == 0


def test_object_over_the_size_cap_is_refused_unread_and_others_go_on(
    rt: Runtime, s3: S3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {"big.jpg": image_bytes(size=(400, 400)), "small.jpg": image_bytes()})
    big = client.head_object(Bucket=bucket, Key="big.jpg")["ContentLength"]
    runner = runner_for(rt, s3, f"s3://{bucket}/", tmp_path, max_object_bytes=big - 1)
    gets = count_gets(runner)
    out = runner.run()
    assert gets == ["small.jpg"]
    assert out.actions == {"created": 1, "failed": 1}
    assert out.failures[0]["code"] == StatusCode.INPUT_OVER_LIMIT


def test_cancel_mid_job_stops_promptly_and_leaves_only_whole_inputs(
    rt: Runtime, s3: S3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(s3)
    keys = {f"c/{n:04d}.jpg": image_bytes(color=("red", "blue")[n % 2]) for n in range(400)}
    put_many(client, bucket, keys)
    small_batches = rt.settings.limits.model_copy(update={"batch_inputs": 10})
    jobs = rt.catalog.jobs
    asked: list[int] = []

    def cancel_after_twenty(counts: dict[str, int]) -> None:
        if counts["image_inputs_count"] >= 20 and not asked:
            asked.append(counts["image_inputs_count"])
            jobs.cancel("me", "main", runner.job_id)

    runner = runner_for(
        rt,
        s3,
        f"s3://{bucket}/c/",
        tmp_path,
        concurrency=2,
        on_progress=cancel_after_twenty,
        limits=small_batches,
    )
    runner.tick_seconds = 0.0
    out = runner.run()
    job = out.job
    assert job["status_code"] == StatusCode.JOB_CANCELLED
    stored = job_inputs(rt)
    assert 20 <= len(stored) < 400
    assert job["image_inputs_count"] == len(stored)  # the counters tell the truth
    for row in stored.values():  # every input is whole: stored content, blob present
        assert row["status_code"] == StatusCode.INPUT_SUCCESS
        assert rt.blobs.exists(row["blob_key"])
    assert not (tmp_path / "extract" / job["id"]).exists()

    rest = run_job(rt, s3, f"s3://{bucket}/c/", tmp_path)
    assert rest.job["status_code"] == StatusCode.JOB_COMPLETED
    assert rest.job["unchanged_objects_count"] == len(stored)
    assert rest.actions == {"created": 400 - len(stored)}
    assert len(job_inputs(rt)) == 400


def test_job_cancelled_before_it_starts_does_nothing(
    rt: Runtime, s3: S3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(s3)
    put_many(client, bucket, {"a.jpg": image_bytes()})
    runner = runner_for(rt, s3, f"s3://{bucket}/", tmp_path)
    rt.catalog.jobs.cancel("me", "main", runner.job_id)
    out = runner.run()
    assert out.job["status_code"] == StatusCode.JOB_CANCELLED
    assert job_inputs(rt) == {}


def test_missing_bucket_fails_the_job_with_list_objects_failed(
    rt: Runtime, s3: S3Server, tmp_path: Path
) -> None:
    out = run_job(rt, s3, "s3://no-such-bucket-here/x", tmp_path)
    assert out.job["status_code"] == StatusCode.JOB_FAILED
    assert out.job["status_message"].startswith("66000 LIST_OBJECTS_FAILED")
    assert "NoSuchBucket" in out.job["status_message"]


def test_a_wrong_secret_fails_the_job_with_the_server_s_reason_and_stores_nothing(
    rt: Runtime, versitygw: VersityGateway, tmp_path: Path
) -> None:
    # versitygw only: moto's server accepts any secret.
    client, bucket = new_bucket(versitygw)
    put_many(client, bucket, {"a.jpg": image_bytes()})
    out = run_job(rt, versitygw, f"s3://{bucket}/", tmp_path, secret="not-the-secret")
    message = out.job["status_message"]
    assert out.job["status_code"] == StatusCode.JOB_FAILED
    assert message.startswith("66000 LIST_OBJECTS_FAILED") and "SignatureDoesNotMatch" in message
    assert "not-the-secret" not in message and versitygw.secret_access_key not in message
    assert job_inputs(rt) == {}


def test_ledger_ids_are_stable_and_distinct() -> None:
    a = input_id_for("b1", "x/photo.jpg")
    assert a == input_id_for("b1", "x/photo.jpg")
    assert a != input_id_for("b2", "x/photo.jpg")  # same key, other bucket
    assert input_id_for("b1", "x/a.zip", "photo.jpg") != input_id_for("b1", "x/a.zip/photo.jpg")
    assert a.startswith("x-photo.jpg-") and len(input_id_for("b", "k" * 1024)) <= 128
    assert origin_id("s3://b/k") != origin_id("s3://b/k#m")
    assert shown("in/a\x1b[2Jb.jpg") == "in/a\\x1b[2Jb.jpg"  # no terminal tricks in reports


def test_template_accepts_flat_and_reference_shapes() -> None:
    flat = InputTemplate(concepts=[Concept(id="a")], dataset_ids=["d"], metadata={"k": 1})
    ref = InputTemplate.from_reference(
        {"data": {"concepts": [{"id": "a"}], "metadata": {"k": 1}}, "dataset_ids": ["d"]}
    )
    assert flat == ref and flat.fingerprint() == ref.fingerprint()


def test_empty_objects_fail_alone_and_bzh_text_is_not_an_archive(
    rt: Runtime, s3: S3Server, tmp_path: Path
) -> None:
    client, bucket = new_bucket(s3)
    put_many(
        client,
        bucket,
        {
            "drop/0-empty.jpg": b"",  # listed first: what comes after must still be stored
            "drop/0-empty.txt": b"",
            "drop/a.txt": b"BZh is how this note starts\n",
            "drop/b.jpg": image_bytes(),
            "drop/c.zip": zip_bytes({"bzh.txt": b"BZh, a member that is text", "e.txt": b""}),
            "drop/d.tar.bz2": b"BZh named as an archive, but not one",
            "drop/z.txt": b"the last object",
        },
    )
    out = run_job(rt, s3, f"s3://{bucket}/drop/", tmp_path)
    assert out.job["status_code"] == StatusCode.JOB_COMPLETED, out.job
    codes = {f["item"].rsplit("/", 1)[-1]: f["code"] for f in out.failures}
    assert codes == {
        "0-empty.jpg": StatusCode.INPUT_INVALID_ARGUMENT,
        "0-empty.txt": StatusCode.INPUT_INVALID_ARGUMENT,
        "c.zip#e.txt": StatusCode.INPUT_INVALID_ARGUMENT,
        "d.tar.bz2": StatusCode.ARCHIVE_EXTRACT_FAILED,
    }
    expected = {input_id_for(bucket, f"drop/{k}") for k in ("a.txt", "b.jpg", "z.txt")}
    expected.add(input_id_for(bucket, "drop/c.zip", "bzh.txt"))
    rows = job_inputs(rt)
    assert {k for k, r in rows.items() if r["status_code"] == StatusCode.INPUT_SUCCESS} == expected
    assert rows[input_id_for(bucket, "drop/d.tar.bz2")]["status_code"] == 67000  # recorded
    assert out.actions == {"created": 4, "failed": 4}
