"""The embedded bus: backpressure, retries of transient failures, dead letters."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ingestd.app.runtime import Runtime
from pipeline.errors import TransientError
from pipeline.events import DeadLetter, UploadRequest
from pipeline.models import Data, Input, Media, Text
from pipeline.status import StatusCode
from pipeline.topics import UPLOADS
from streams.bus import EmbeddedBus
from streams.delivery import Interrupted, Origin, RetryPolicy, deliver
from tests.support.s3_server import S3Server
from tests.support.stages import FunctionStage
from tests.support.storage import image_bytes, make_settings


def text_request(n: int, request_id: str | None = None) -> UploadRequest:
    req = UploadRequest(inputs=[Input(id=f"t{n}", data=Data(text=Text(raw=f"text {n}")))])
    if request_id:
        req.request_id = request_id
    return req


def test_publish_blocks_when_the_topic_is_full() -> None:
    gate = threading.Event()
    seen: list[str] = []

    def slow(req: UploadRequest) -> None:
        gate.wait(5)
        seen.append(req.request_id)

    # A batch is at most a queue's size: the worker waits (batch_ms) until it holds two.
    bus = EmbeddedBus(
        dead_letter_sink=lambda d: None, queue_size=2, workers=1, batch_events=64, batch_ms=60_000
    )
    bus.subscribe(UPLOADS, FunctionStage("ingest", UploadRequest, slow))
    # Two in the worker's hands, two queued: the fifth publish must wait.
    for n in range(4):
        bus.publish(UPLOADS, text_request(n))
    fifth = threading.Thread(target=bus.publish, args=(UPLOADS, text_request(4)))
    fifth.start()
    fifth.join(0.3)
    assert fifth.is_alive(), "publish should block while the queue is full"
    gate.set()
    fifth.join(5)
    bus.join()
    bus.close()
    assert len(seen) == 5


def test_transient_failures_are_retried_then_dead_lettered() -> None:
    attempts: dict[str, int] = {}
    letters: list[DeadLetter] = []

    def flaky(req: UploadRequest) -> str:
        attempts[req.request_id] = attempts.get(req.request_id, 0) + 1
        if req.request_id == "never" or attempts[req.request_id] < 3:
            raise TransientError("storage hiccup")
        return "ok"

    policy = RetryPolicy(max_attempts=4, min_backoff=0.001, max_backoff=0.01)
    with EmbeddedBus(dead_letter_sink=letters.append, policy=policy, workers=1) as bus:
        bus.subscribe(UPLOADS, FunctionStage("ingest", UploadRequest, flaky))
        bus.publish(UPLOADS, text_request(1, "recovers"))
        bus.publish(UPLOADS, text_request(2, "never"), key="main")
        bus.join()
    assert attempts == {"recovers": 3, "never": 4}
    assert len(letters) == 1
    letter = letters[0]
    assert (letter.event_id, letter.stage, letter.code, letter.attempts) == (
        "never",
        "ingest",
        StatusCode.TRY_AGAIN,
        4,
    )
    assert letter.origin_topic == UPLOADS and letter.origin_offset == 1
    assert letter.origin_key == "main"
    assert letter.event["inputs"][0]["id"] == "t2"


def test_an_unreadable_event_and_a_crashing_stage_become_dead_letters(embedded: Runtime) -> None:
    bus = embedded.bus
    embedded.bus.policy = RetryPolicy(max_attempts=2, min_backoff=0.001)
    too_many = UploadRequest(
        request_id="too-many",
        inputs=[Input(id=f"i{n}", data=Data(text=Text(raw="x"))) for n in range(129)],
    )
    bus.publish(UPLOADS, too_many)
    bus.join()
    letters = embedded.catalog.list_dead_letters()
    assert [(d.event_id, d.code) for d in letters] == [
        ("too-many", StatusCode.INPUT_INVALID_REQUEST)
    ]
    assert "129 inputs" in letters[0].message
    settled = embedded.catalog.settled("me", "main", ["too-many"])
    assert isinstance(settled["too-many"], DeadLetter)


@pytest.mark.parametrize("server", ["moto", "versitygw"])
def test_s3_outage_mid_run_loses_nothing_and_sends_nothing_to_dead_letters(
    tmp_path: Path, request, server: str
) -> None:
    s3: S3Server = request.getfixturevalue(server)
    settings = make_settings(tmp_path, "sqlite", server, request, max_attempts=50)
    with Runtime.open(settings) as rt:
        rt.bus.policy = RetryPolicy(max_attempts=50, min_backoff=0.05, max_backoff=0.2)
        s3.stop()
        try:
            for n in range(4):
                payload = image_bytes(color=(n * 40, 10, 10))  # type: ignore[arg-type]
                import base64

                rt.submit(
                    UploadRequest(
                        request_id=f"r{n}",
                        inputs=[
                            Input(
                                id=f"img{n}",
                                data=Data(image=Media(base64=base64.b64encode(payload).decode())),
                            )
                        ],
                    )
                )
            time.sleep(1.0)  # the stage is retrying against a dead endpoint now
        finally:
            s3.start()
        rt.bus.join()
        assert rt.catalog.list_dead_letters() == []
        rows = rt.catalog.list_inputs("me", "main")
        assert [r["id"] for r in rows] == ["img0", "img1", "img2", "img3"]
        for row in rows:
            assert rt.blobs.exists(row["blob_key"])


def test_a_stop_ends_the_retry_wait_without_a_dead_letter() -> None:
    tried = threading.Event()
    stop = threading.Event()
    letters: list[DeadLetter] = []
    outcome: list[BaseException] = []

    def outage(req: UploadRequest) -> None:
        tried.set()
        raise TransientError("S3 unreachable")

    def run() -> None:
        try:
            deliver(
                text_request(1),
                FunctionStage("ingest", UploadRequest, outage),
                origin=Origin(UPLOADS),
                policy=RetryPolicy(max_attempts=0, min_backoff=3600, max_backoff=3600),
                dead_letter_sink=letters.append,
                stop=stop,
            )
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert tried.wait(30)
    stop.set()
    thread.join(60)  # the retry wait is an hour: only the stop ends it
    assert not thread.is_alive()
    assert [type(e) for e in outcome] == [Interrupted] and letters == []
