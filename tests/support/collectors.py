"""Shared set-up for collector tests: keys, workflows, collectors and prediction events."""

from __future__ import annotations

import base64
import time
from typing import Any

from ingestd.app.runtime import Runtime
from pipeline.collect.collectors import Collector, check_references, parse_collector
from pipeline.collect.operators.datum import Ports, RunContext
from pipeline.collect.workflows.graph import parse_workflow
from pipeline.events import ModelOutput, ModelRef, PredictionEvent
from pipeline.keys import Scope, new_key
from pipeline.models import Concept, Media
from tests.support.storage import image_bytes

USER, APP = "me", "main"
MODEL = ModelRef(
    user_id="clarifai",
    app_id="main",
    model_id="general-image-recognition",
    version_id="aa7f35c01e0642fda5cf400f543e7c40",
)


def run_context(event_id: str, url: str, ports: Ports | None = None, **kw: object) -> RunContext:
    """What an operator sees of one event of collector c, workflow w, app u/a (an image)."""
    base: dict = dict(
        event_id=event_id,
        user_id="u",
        app_id="a",
        collector_id="c",
        workflow_id="w",
        input_type="image",
        input=Media(url=url),
        ports=ports or Ports(),
        now=time.time,
    )
    base.update(kw)
    return RunContext(**base)


def make_key(rt: Runtime, scopes: list[Scope] | None = None, app_id: str = APP) -> str:
    key, _secret = new_key(USER, app_id, scopes or [Scope.POST_INPUTS])
    rt.catalog.keys.add(key)
    return key.id


def save_workflow(rt: Runtime, doc: dict[str, Any]) -> str:
    spec = parse_workflow(doc)
    rt.catalog.workflows.save(USER, APP, spec, replace=True)
    return spec.id


class Refs:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def get_key(self, key_id: str):
        return self.rt.catalog.keys.get(key_id)

    def workflow_exists(self, user_id: str, app_id: str, workflow_id: str) -> bool:
        return self.rt.catalog.workflows.exists(user_id, app_id, workflow_id)


def make_collector(rt: Runtime, collector_id: str, key_id: str, **fields: Any) -> Collector:
    source = {
        "model_user_id": MODEL.user_id,
        "model_app_id": MODEL.app_id,
        "model_id": MODEL.model_id,
        "model_version_id": MODEL.version_id,
        "post_inputs_key_id": key_id,
        "caller_user_id": fields.pop("caller_user_id", ""),
    }
    doc = {
        "id": collector_id,
        "collector_source": {"api_post_model_outputs_collector_source": source},
    }
    collector = parse_collector({**doc, **fields})
    check_references(collector, USER, APP, Refs(rt))
    created = rt.catalog.collectors.create(USER, APP, collector)
    assert created is not None
    rt.collect.refresh()
    return created


def prediction(
    event_id: str,
    caller: str = "alice",
    concepts: dict[str, float] | None = None,
    color: str = "red",
    model: ModelRef = MODEL,
    **kw: Any,
) -> PredictionEvent:
    data = base64.b64encode(image_bytes(color=color)).decode()
    outputs = ModelOutput(concepts=[Concept(id=k, value=v) for k, v in (concepts or {}).items()])
    return PredictionEvent(
        event_id=event_id,
        caller_user_id=caller,
        model=model,
        input=Media(base64=data),
        outputs=outputs,
        **kw,
    )


def settle(rt: Runtime) -> None:
    """Wait until predictions and the uploads they caused are all processed."""
    for _ in range(3):
        rt.bus.join()


def inputs(rt: Runtime, app_id: str = APP) -> list[dict[str, Any]]:
    return rt.catalog.list_inputs(USER, app_id, limit=1000)
