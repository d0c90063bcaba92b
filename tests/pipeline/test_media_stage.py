"""Oversized inputs through the ingest and media stages, on every catalog x blob-store pair."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from connectors.catalog.chunks import ChunkCatalog
from ingestd.app.runtime import Runtime
from pipeline.errors import TransientError
from pipeline.events import MediaTask, UploadRequest
from pipeline.media.stage import MediaStage
from pipeline.models import (
    Annotation,
    AnnotationData,
    Concept,
    Data,
    Frame,
    FrameInfo,
    Input,
    Media,
    Text,
)
from pipeline.records import Action
from pipeline.status import StatusCode
from tests.support.annotations import box_annotation
from tests.support.media import gradient_image, mp3_bytes, probe_duration, video_bytes, wav_bytes

SMALL_VIDEO_LIMITS = {"video_bytes": 60_000, "video_url_seconds": 600.0}


def limited(rt: Runtime, **limits: object) -> Runtime:
    """The same runtime with lower limits in both stages (so small media must split)."""
    new = rt.settings.limits.model_copy(update=limits)
    rt.ingest.limits = new
    rt.media.limits = new
    return rt


def frame(index: int, time_ms: int, concept: str) -> Annotation:
    return Annotation(
        id=f"frame-{index}",
        data=AnnotationData(
            frames=[
                Frame(
                    frame_info=FrameInfo(index=index, time=time_ms),
                    data={"concepts": [Concept(id=concept)]},
                )
            ]  # type: ignore[arg-type]
        ),
    )


def video_request(request_id: str = "req-video") -> UploadRequest:
    item = Input(
        id="clip",
        data=Data(
            video=Media(base64=video_bytes(seconds=6.0, gop=25)), concepts=[Concept(id="walk")]
        ),
        annotations=[frame(30, 1200, "early"), frame(130, 5200, "late")],
    )
    return UploadRequest(request_id=request_id, inputs=[item], dataset_ids=["clips"])


def run_media(rt: Runtime, tasks: list) -> None:
    for task in tasks:
        assert isinstance(task, MediaTask)
        result = rt.media.handle(task)
        assert result.code is StatusCode.INPUT_SUCCESS, result.message


def test_oversized_video_becomes_linked_playable_chunks(runtime: Runtime, tmp_path: Path) -> None:
    rt = limited(runtime, **SMALL_VIDEO_LIMITS)
    s = rt.settings
    result = rt.ingest.handle(video_request())
    [outcome] = result.outcomes
    assert (outcome.action, outcome.code) == (Action.CREATED, StatusCode.INPUT_PENDING)
    assert "the limit is 58.6 KB" in outcome.message
    pending = rt.catalog.get_input(s.user_id, s.app_id, "clip")
    assert pending["status_code"] == StatusCode.INPUT_PENDING and pending["annotations"] == []
    assert rt.catalog.input_counts(s.user_id, s.app_id)["to_process"] == 1

    run_media(rt, result.follow_ups)

    parent = rt.catalog.get_input(s.user_id, s.app_id, "clip")
    chunks = rt.catalog.chunks.chunks_of(s.user_id, s.app_id, "clip")
    assert parent["status_code"] == StatusCode.INPUT_SUCCESS
    assert parent["chunk_count"] == len(chunks) >= 2
    assert parent["metadata"]["chunks"]["ids"] == [c["id"] for c in chunks]
    assert hashlib.sha256(rt.blobs.get(parent["blob_key"])).hexdigest() == parent["sha256"]
    assert parent["dataset_ids"] == []  # the chunks are the dataset's inputs, not the original
    ends = 0
    for n, chunk in enumerate(chunks):
        assert (chunk["parent_input_id"], chunk["chunk_index"]) == ("clip", n)
        assert chunk["chunk_count"] == len(chunks) and chunk["start_ms"] == ends
        assert chunk["metadata"]["chunk"]["start_ms"] == chunk["start_ms"]
        ends = chunk["end_ms"]
        data = rt.blobs.get(chunk["blob_key"])
        assert len(data) < 60_000 and hashlib.sha256(data).hexdigest() == chunk["sha256"]
        local = tmp_path / f"{n}.mp4"
        local.write_bytes(data)
        assert abs(probe_duration(local) - (chunk["end_ms"] - chunk["start_ms"]) / 1000) < 0.1
    assert ends == 6000
    # Frame annotations moved to the chunk holding them, with chunk-local time and index.
    found = {}
    for chunk in chunks:
        got = rt.catalog.get_input(s.user_id, s.app_id, chunk["id"])
        assert got["dataset_ids"] == ["clips"]
        assert {"concepts": [{"id": "walk", "value": 1.0}]} in [
            a["data"] for a in got["annotations"]
        ]
        for ann in got["annotations"]:
            for f in ann["data"].get("frames", []):
                found[ann["annotation_info"]["source_annotation_id"]] = (chunk, f["frame_info"])
    early_chunk, early = found["frame-30"]
    late_chunk, late = found["frame-130"]
    assert early_chunk["start_ms"] <= 1200 < early_chunk["end_ms"]
    assert early == {
        "index": 30 - early_chunk["start_ms"] * 25 // 1000,
        "time": 1200 - early_chunk["start_ms"],
    }
    assert late_chunk["start_ms"] <= 5200 < late_chunk["end_ms"]
    assert late["time"] == 5200 - late_chunk["start_ms"]


def test_replay_re_emits_tasks_of_pending_inputs_only(runtime: Runtime) -> None:
    rt = limited(runtime, **SMALL_VIDEO_LIMITS)
    first = rt.ingest.handle(video_request())
    # A crash between the catalog commit and publishing: the follow-up never left.
    again = rt.ingest.handle(video_request())
    assert again.replayed and again.follow_ups == first.follow_ups
    # The same content in a new request: unchanged, still pending, task handed on again.
    fresh = rt.ingest.handle(video_request("req-video-2"))
    assert fresh.outcomes[0].action is Action.UNCHANGED
    assert fresh.outcomes[0].code is StatusCode.INPUT_PENDING
    assert fresh.follow_ups == first.follow_ups
    run_media(rt, first.follow_ups)
    assert rt.ingest.handle(video_request()).follow_ups == []
    done = rt.ingest.handle(video_request("req-video-3"))
    assert done.follow_ups == [] and done.outcomes[0].code is StatusCode.INPUT_SUCCESS
    # A second delivery of the same task after it was done changes nothing.
    assert rt.media.handle(first.follow_ups[0]).skipped


class CrashingBlobs:
    """The real store, but the process 'dies' after `allowed` chunk uploads."""

    def __init__(self, real, allowed: int) -> None:
        self.real, self.allowed = real, allowed

    def put_file(self, key: str, path: Path) -> None:
        if self.allowed <= 0:
            raise TransientError("simulated crash during upload")
        self.allowed -= 1
        self.real.put_file(key, path)

    def __getattr__(self, name: str):
        return getattr(self.real, name)


class CrashBeforeCommit(ChunkCatalog):
    """The real catalog, but the process 'dies' after the uploads, before the commit."""

    def commit_chunks(self, *args, **kwargs):
        raise TransientError("simulated crash before the commit")


def test_crash_mid_split_then_rerun_gives_the_same_chunks_and_no_extras(runtime: Runtime) -> None:
    rt = limited(runtime, **SMALL_VIDEO_LIMITS)
    s = rt.settings
    [task] = rt.ingest.handle(video_request()).follow_ups
    limits = rt.media.limits
    with pytest.raises(TransientError):
        MediaStage(CrashingBlobs(rt.blobs, 1), rt.catalog.chunks, limits, 1).handle(task)
    assert len(list(rt.blobs.keys("chunks/"))) == 1
    with pytest.raises(TransientError):
        MediaStage(rt.blobs, CrashBeforeCommit(rt.catalog), limits).handle(task)
    uploaded = sorted(rt.blobs.keys("chunks/"))
    assert len(uploaded) >= 2
    assert (
        rt.catalog.get_input(s.user_id, s.app_id, "clip")["status_code"] == StatusCode.INPUT_PENDING
    )
    assert rt.catalog.chunks.chunks_of(s.user_id, s.app_id, "clip") == []

    run_media(rt, [task])  # the redelivered task
    chunks = rt.catalog.chunks.chunks_of(s.user_id, s.app_id, "clip")
    assert sorted(rt.blobs.keys("chunks/")) == uploaded  # the same keys, no extra part
    assert sorted(c["blob_key"] for c in chunks) == uploaded
    assert [c["chunk_index"] for c in chunks] == list(range(len(uploaded)))
    assert rt.media.handle(task).skipped  # and once more: nothing to do


def test_replacing_an_oversized_input_with_a_small_one_removes_its_chunks(
    embedded: Runtime,
) -> None:
    rt = limited(embedded, **SMALL_VIDEO_LIMITS)
    s = rt.settings
    run_media(rt, rt.ingest.handle(video_request()).follow_ups)
    assert len(rt.catalog.chunks.chunks_of(s.user_id, s.app_id, "clip")) >= 2
    small = Input(
        id="clip",
        data=Data(video=Media(base64=video_bytes(seconds=1.0, size="64x48"))),
        replace=True,
    )
    result = rt.ingest.handle(UploadRequest(inputs=[small]))
    assert result.outcomes[0].action is Action.UPDATED and result.follow_ups == []
    assert rt.catalog.chunks.chunks_of(s.user_id, s.app_id, "clip") == []
    assert rt.catalog.get_input(s.user_id, s.app_id, "clip")["chunk_count"] is None


def test_audio_text_and_tiled_image_on_the_embedded_bus(embedded: Runtime) -> None:
    rt = limited(
        embedded,
        audio_bytes=20_000,
        text_bytes=400,
        image_pixels=10_000,
        image_oversize="tile",
        image_tile_size=64,
        image_tile_overlap=0,
    )
    s = rt.settings
    boxed = box_annotation((0.1, 0.1, 0.3, 0.3), id="cat-box")
    text = "A sentence of text. " * 60
    requests = [
        UploadRequest(inputs=[Input(id="sound", data=Data(audio=Media(base64=wav_bytes(3.0))))]),
        UploadRequest(inputs=[Input(id="essay", data=Data(text=Text(raw=text)))]),
        UploadRequest(inputs=[Input(id="song", data=Data(audio=Media(base64=mp3_bytes(2.0))))]),
        UploadRequest(
            inputs=[
                Input(
                    id="photo",
                    data=Data(image=Media(base64=gradient_image((256, 128)))),
                    annotations=[boxed],
                )
            ]
        ),
    ]
    for request in requests:
        rt.submit(request)
    rt.bus.join()
    chunks = rt.catalog.chunks
    sound = chunks.chunks_of(s.user_id, s.app_id, "sound")
    assert len(sound) == 3 and sound[-1]["end_offset"] == 24_000
    assert all(c["size"] < 20_000 and c["format"] == "WAV" for c in sound)
    song = chunks.chunks_of(s.user_id, s.app_id, "song")  # MP3: converted to WAV, then split
    assert len(song) >= 3 and {c["format"] for c in song} == {"WAV"}
    assert rt.blobs.get(song[0]["blob_key"])[:4] == b"RIFF"
    essay = chunks.chunks_of(s.user_id, s.app_id, "essay")
    assert "".join(rt.blobs.get(c["blob_key"]).decode() for c in essay) == text
    assert [c["start_offset"] for c in essay][1:] == [c["end_offset"] for c in essay][:-1]
    photo = chunks.chunks_of(s.user_id, s.app_id, "photo")
    assert len(photo) == 8 and all((c["width"], c["height"]) == (64, 64) for c in photo)
    with_box = [
        c["id"]
        for c in photo
        if any(
            a["data"].get("regions")
            for a in rt.catalog.get_input(s.user_id, s.app_id, c["id"])["annotations"]
        )
    ]
    assert with_box == ["photo-chunk-0000", "photo-chunk-0001"]  # 26..77 px: tiles 0 and 1
    tile0 = rt.catalog.get_input(s.user_id, s.app_id, "photo-chunk-0000")["annotations"][0]
    box = tile0["data"]["regions"][0]["region_info"]["bounding_box"]
    assert box["left_col"] == pytest.approx(0.4) and box["right_col"] == 1.0


def test_bad_oversized_media_fail_with_a_status_and_the_rest_proceeds(embedded: Runtime) -> None:
    rt = limited(embedded, **SMALL_VIDEO_LIMITS, image_pixels=10_000)
    s = rt.settings
    from tests.pipeline.test_ingest import lying_png

    requests = [
        UploadRequest(
            inputs=[Input(id="fibber", data=Data(image=Media(base64=lying_png(200, 200))))]
        ),
        UploadRequest(
            inputs=[Input(id="fine", data=Data(image=Media(base64=gradient_image((50, 50)))))]
        ),
    ]
    for request in requests:
        rt.submit(request)
    rt.bus.join()
    fibber = rt.catalog.get_input(s.user_id, s.app_id, "fibber")
    assert fibber["status_code"] == StatusCode.INPUT_FAILED
    assert "header lies" in fibber["status_message"]
    assert (
        rt.catalog.get_input(s.user_id, s.app_id, "fine")["status_code"] == StatusCode.INPUT_SUCCESS
    )
    # Sending it again retries (a failed split is not 'unchanged').
    again = rt.ingest.handle(requests[0].model_copy(update={"request_id": "retry"}))
    assert again.outcomes[0].action is Action.UPDATED and len(again.follow_ups) == 1


def test_a_large_blob_reference_is_streamed_stored_by_content_and_split(runtime: Runtime) -> None:
    rt = limited(runtime, **SMALL_VIDEO_LIMITS)
    s = rt.settings
    data = video_bytes(seconds=6.0, gop=25)
    rt.blobs.put("uploads/me/main/big-upload.mp4", data)
    item = Input(id="claimed", data=Data(video=Media(blob_key="uploads/me/main/big-upload.mp4")))
    result = rt.ingest.handle(UploadRequest(inputs=[item]))
    assert result.outcomes[0].code is StatusCode.INPUT_PENDING
    row = rt.catalog.get_input(s.user_id, s.app_id, "claimed")
    assert (
        row["blob_key"].startswith("media/") and row["sha256"] == hashlib.sha256(data).hexdigest()
    )
    run_media(rt, result.follow_ups)
    assert rt.catalog.get_input(s.user_id, s.app_id, "claimed")["chunk_count"] >= 2


def test_chunk_columns_are_added_to_an_existing_catalog(tmp_path: Path) -> None:
    import sqlite3

    from sqlalchemy import inspect

    from connectors.catalog import SqlCatalog

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # an inputs table from before the chunk columns
        db.execute(
            "CREATE TABLE inputs (user_id TEXT, app_id TEXT, id TEXT, created_at TIMESTAMP, "
            "blob_key TEXT, "
            "PRIMARY KEY (user_id, app_id, id))"
        )
        db.execute(
            "CREATE TABLE schema_migrations (name VARCHAR(128) PRIMARY KEY, applied_at TIMESTAMP)"
        )
        db.execute("INSERT INTO schema_migrations VALUES ('0001_core', '2024-01-01')")
    catalog = SqlCatalog(f"sqlite:///{path}")
    names = {c["name"] for c in inspect(catalog.engine).get_columns("inputs")}
    assert {"parent_input_id", "chunk_index", "chunk_count", "start_ms", "end_ms"} <= names
    assert "ix_inputs_parent" in {i["name"] for i in inspect(catalog.engine).get_indexes("inputs")}
    catalog.close()


def test_refuse_mode_refuses_what_split_mode_would_split(embedded: Runtime) -> None:
    rt = limited(embedded, **SMALL_VIDEO_LIMITS, oversized="refuse")
    result = rt.ingest.handle(video_request())
    [outcome] = result.outcomes
    assert outcome.code is StatusCode.INPUT_VIDEO_OVER_LIMIT and result.follow_ups == []
    assert "INGESTD_LIMITS__OVERSIZED=split" in outcome.message
    long = limited(embedded, video_url_seconds=4.0, oversized="refuse")
    [too_long] = long.ingest.handle(video_request("req-long")).outcomes
    assert too_long.code is StatusCode.INPUT_VIDEO_OVER_LIMIT and "6s long" in too_long.message
