"""The demo's collector scene: the example of ../shared/reference/collectors.md, end to end.

A collector watches general-image-recognition for the caller `demo-caller`: a pre-queue
random-sample workflow with keep_fraction 1 and a post-queue captioning model, served by a
small HTTP endpoint on 127.0.0.1 that this scene starts. The first prediction's image is
captured and captioned; then the post-queue workflow is removed from the collector and the
second prediction's image is captured as is.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from PIL import Image

from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from ingestd.cli.options import console, table
from pipeline.collect.capture import capture_ids
from pipeline.collect.collectors import parse_collector, patched
from pipeline.collect.workflows.graph import parse_workflow
from pipeline.events import ModelOutput, ModelRef, PredictionEvent
from pipeline.keys import Scope, new_key
from pipeline.models import Concept, Media

COLLECTOR, DATASET, CALLER = "demo-collector", "collected", "demo-caller"
KEY_NOTE = "demo collector key"
MODEL = ModelRef(
    user_id="clarifai",
    app_id="main",
    model_id="general-image-recognition",
    version_id="aa7f35c01e0642fda5cf400f543e7c40",
)
_COLORS = {
    "orange": (200, 120, 40),
    "blue": (60, 90, 200),
    "white": (240, 240, 240),
    "black": (0, 0, 0),
    "red": (220, 30, 30),
    "green": (40, 160, 60),
}


@dataclass
class Scene:
    captured: list[dict[str, Any]] = field(default_factory=list)
    as_expected: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"captured": self.captured, "as_expected": self.as_expected}


def caption(image_bytes: bytes) -> str:
    """A caption from the two commonest colours: a stand-in for a captioning model."""
    with Image.open(io.BytesIO(image_bytes)) as img:
        colors = sorted(img.convert("RGB").getcolors(1 << 20) or [], reverse=True)

    def name(rgb: tuple[int, int, int]) -> str:
        return min(
            _COLORS, key=lambda n: sum((a - b) ** 2 for a, b in zip(_COLORS[n], rgb, strict=True))
        )

    if not colors:
        return "an empty picture"
    first = name(cast(tuple[int, int, int], colors[0][1]))
    if len(colors) < 2:
        return f"a plain {first} picture"
    second = name(cast(tuple[int, int, int], colors[1][1]))
    return f"{_a(second)} {second} shape on {_a(first)} {first} background"


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@contextmanager
def caption_server() -> Iterator[str]:
    """A captioning endpoint on 127.0.0.1 (platform request and response shapes)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            item = body["inputs"][0]["data"]["image"]
            text = caption(base64.b64decode(item["base64"]))
            data = json.dumps({"outputs": [{"data": {"text": {"raw": text}}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/caption"
    finally:
        server.shutdown()
        server.server_close()


def run_scene(settings: Settings, samples: Path) -> Scene:
    """Run the scene on the same storage as the rest of the demo; rerunning adds nothing."""
    # The scene's model server is on loopback: open it for model calls, in this runtime only.
    local = settings.model_copy(update={"model_allow": [*settings.model_allow, "127.0.0.1"]})
    with caption_server() as url, Runtime.open(local) as rt:
        user, app = local.user_id, local.app_id
        collector = _set_up(rt, user, app, url)
        first = _predict(rt, "demo-prediction-1", samples / "cats" / "cats-0.jpg")
        # "If you update the collector by deselecting the post-queue workflow..."
        without = patched(collector, "remove", {"post_queue_workflow_id": True})
        rt.catalog.collectors.save(user, app, without)
        rt.collect.refresh()
        second = _predict(rt, "demo-prediction-2", samples / "dogs" / "dogs-0.jpg")
        scene = Scene()
        for event_id in (first, second):
            _, input_id = capture_ids(event_id, f"{user}/{app}/{COLLECTOR}")
            row = rt.catalog.get_input(user, app, input_id) or {}
            texts = [a["data"].get("text", {}).get("raw") for a in row.get("annotations", [])]
            scene.captured.append(
                {
                    "event_id": event_id,
                    "input_id": input_id,
                    "type": row.get("media_type"),
                    "status_code": row.get("status_code"),
                    "datasets": row.get("dataset_ids", []),
                    "captions": [t for t in texts if t],
                }
            )
    one, two = scene.captured
    scene.as_expected = (
        one["type"] == two["type"] == "image"
        and len(one["captions"]) == 1
        and two["captions"] == []
        and one["datasets"] == two["datasets"] == [DATASET]
    )
    return scene


def _set_up(rt: Runtime, user: str, app: str, url: str) -> Any:
    keys = rt.catalog.keys
    key = next((k for k in keys.for_app(user, app) if k.description == KEY_NOTE), None)
    if key is None:
        key, _secret = new_key(user, app, [Scope.POST_INPUTS], KEY_NOTE)  # secret not needed
        keys.add(key)
    workflows = rt.catalog.workflows
    sample_all = {
        "id": "demo-sample-all",
        "nodes": [{"id": "sample", "operator": "random-sample", "params": {"keep_fraction": 1}}],
    }
    captioner = {
        "id": "demo-caption",
        "nodes": [
            {
                "id": "blip",
                "operator": "model",
                "params": {"url": url, "timeout": 10, "model_version_id": "demo-captioner"},
            }
        ],
    }
    for doc in (sample_all, captioner):
        workflows.save(user, app, parse_workflow(doc), replace=True)
    collector = parse_collector(
        {
            "id": COLLECTOR,
            "description": "captures what demo-caller predicts with general-image-recognition",
            "pre_queue_workflow_id": "demo-sample-all",
            "post_queue_workflow_id": "demo-caption",
            "dataset_id": DATASET,
            "collector_source": {
                "api_post_model_outputs_collector_source": {
                    "model_user_id": MODEL.user_id,
                    "model_app_id": MODEL.app_id,
                    "model_id": MODEL.model_id,
                    "model_version_id": MODEL.version_id,
                    "post_inputs_key_id": key.id,
                    "caller_user_id": CALLER,
                }
            },
        }
    )
    collectors = rt.catalog.collectors
    if collectors.create(user, app, collector) is None:
        collectors.save(user, app, collector)  # a rerun: back to the scene's start
    rt.collect.refresh()
    return collector


def _predict(rt: Runtime, event_id: str, image: Path) -> str:
    event = PredictionEvent(
        event_id=event_id,
        caller_user_id=CALLER,
        model=MODEL,
        input=Media(base64=image.read_bytes()),
        outputs=ModelOutput(concepts=[Concept(id="cat", value=0.97), Concept(id="pet", value=0.9)]),
    )
    rt.publish(event)
    for _ in range(3):  # the prediction, then the upload it caused
        rt.bus.join()
    return event_id


def print_scene(scene: Scene) -> None:
    console.print()
    table(
        f"collector {COLLECTOR!r}: what demo-caller predicted on, captured into {DATASET!r}",
        ["event", "input id", "type", "post-queue", "caption"],
        [
            (
                c["event_id"],
                c["input_id"],
                c["type"],
                "captioning model" if n == 0 else "removed: captured as is",
                "; ".join(c["captions"]) or "-",
            )
            for n, c in enumerate(scene.captured)
        ],
    )
