"""`ingestd deadletters list|replay`: an event that ran out of retries comes back."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ingestd.app.runtime import Runtime
from ingestd.cli import app
from pipeline.events import UploadRequest
from pipeline.models import Data, Input, Media, Text
from pipeline.status import StatusCode
from streams.delivery import RetryPolicy
from tests.support.deadletters import dead_letter, record_dead_letters
from tests.support.storage import image_bytes, make_settings, use_storage

runner = CliRunner()


def test_replay_after_the_outage_stores_the_input(tmp_path, request, monkeypatch, s3) -> None:
    settings = make_settings(tmp_path, "sqlite", "s3", request)
    for key, value in {
        "INGESTD_CATALOG": settings.catalog,
        "INGESTD_BLOBS": settings.blobs,
        "INGESTD_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "INGESTD_S3_ACCESS_KEY_ID": "testing",
        "INGESTD_S3_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    with Runtime.open(settings) as rt:
        rt.bus.policy = RetryPolicy(max_attempts=2, min_backoff=0.01, max_backoff=0.02)
        s3.stop()
        try:
            rt.submit(
                UploadRequest(
                    request_id="r-1",
                    inputs=[Input(id="img", data=Data(image=Media(base64=image_bytes())))],
                )
            )
            rt.bus.join()
        finally:
            s3.start()
        [letter] = rt.catalog.list_dead_letters()
        assert (letter.event_id, letter.code) == ("r-1", StatusCode.TRY_AGAIN)

    listed = runner.invoke(app, ["deadletters", "list", "--json"])
    assert [d["event_id"] for d in json.loads(listed.stdout)] == ["r-1"]
    replay = runner.invoke(app, ["deadletters", "replay", "--json"])
    assert replay.exit_code == 0, replay.output
    [replayed] = json.loads(replay.stdout)["replayed"]
    assert (replayed["id"], replayed["outcome"]) == (letter.dead_letter_id, "processed")
    with Runtime.open(settings) as rt:
        row = rt.catalog.get_input("me", "main", "img")
        assert row is not None and row["status_code"] == StatusCode.INPUT_SUCCESS
        assert rt.catalog.list_dead_letters() == []  # replayed ones are no longer listed
    again = runner.invoke(app, ["deadletters", "replay", "nope"])
    assert again.exit_code == 1 and "no unreplayed dead letter" in again.output


def test_a_replay_that_fails_again_says_so_and_exits_non_zero(
    tmp_path, request, monkeypatch
) -> None:
    from connectors.blobs.local import LocalBlobStore
    from pipeline.errors import TransientError

    def outage(self, key, *args) -> None:
        raise TransientError("blob store unreachable (test outage)")

    settings = make_settings(tmp_path, "sqlite", "local", request, max_attempts=1)
    use_storage(monkeypatch, settings)
    monkeypatch.setenv("INGESTD_MAX_ATTEMPTS", "1")
    monkeypatch.setattr(LocalBlobStore, "put", outage)
    monkeypatch.setattr(LocalBlobStore, "put_file", outage)
    with Runtime.open(settings) as rt:
        image = Input(id="img", data=Data(image=Media(base64=image_bytes())))
        rt.submit(UploadRequest(request_id="r-2", inputs=[image]))
        rt.bus.join()
        [first] = rt.catalog.list_dead_letters()

    replay = runner.invoke(app, ["deadletters", "replay", "--json"])  # the outage goes on
    assert replay.exit_code == 1, replay.output
    [outcome] = json.loads(replay.stdout)["replayed"]
    assert (outcome["id"], outcome["outcome"]) == (first.dead_letter_id, "failed again")
    assert outcome["code"] == StatusCode.TRY_AGAIN
    with Runtime.open(settings) as rt:
        [second] = rt.catalog.list_dead_letters()  # the new letter, open for the next replay
    assert second.dead_letter_id == outcome["dead_letter_id"] != first.dead_letter_id

    human = runner.invoke(app, ["deadletters", "replay"])
    assert human.exit_code == 1
    assert f"failed again {second.dead_letter_id}" in human.stdout


def test_list_shows_where_each_letter_came_from(tmp_path, request, monkeypatch) -> None:
    settings = make_settings(tmp_path, "sqlite", "local", request)
    use_storage(monkeypatch, settings)
    # A collect stage records its own letters: there is no partition or offset for them.
    collect = dead_letter(
        stage="collect",
        message="post-queue workflow failed",
        origin_topic="ingestd.predictions",
        event={"event_id": "e-1"},
    )
    not_json = dead_letter(
        code=StatusCode.CONN_BAD_REQUEST_FORMAT,
        message="not json",
        origin_partition=3,
        origin_offset=41,
        event={"raw": "{not json"},
    )
    record_dead_letters(settings, collect, not_json)
    listed = runner.invoke(app, ["deadletters", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "ingestd.predictions (no offset)" in listed.output
    assert "ingestd.uploads/3@41" in listed.output
    assert "None" not in listed.output


def test_replay_finds_the_stage_of_a_prefixed_topic(tmp_path, request, monkeypatch) -> None:
    # A Kafka worker with INGESTD_TOPIC_PREFIX names the real topic in its letters.
    settings = make_settings(tmp_path, "sqlite", "local", request)
    use_storage(monkeypatch, settings)
    monkeypatch.setenv("INGESTD_TOPIC_PREFIX", "staging-")
    event = UploadRequest(
        request_id="r-2", inputs=[Input(id="txt", data=Data(text=Text(raw="hello")))]
    )
    letter = dead_letter(
        origin_topic="staging-ingestd.uploads",
        origin_partition=0,
        origin_offset=7,
        event=event.model_dump(mode="json"),
    )
    record_dead_letters(settings, letter)
    replay = runner.invoke(app, ["deadletters", "replay", "--json"])
    assert replay.exit_code == 0, replay.output
    assert len(json.loads(replay.stdout)["replayed"]) == 1
    with Runtime.open(settings) as rt:
        row = rt.catalog.get_input("me", "main", "txt")
        assert row is not None and row["status_code"] == StatusCode.INPUT_SUCCESS
