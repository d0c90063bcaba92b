"""Model operators of post-queue workflows: an HTTP inference endpoint or an in-process model.

Both receive the original input in the platform's request shape
`{"inputs": [{"id": ..., "data": {"image": {"url" | "base64": ...}}}]}` (the Python model
gets the one input object) and answer with concepts, regions and/or text, either bare
(`{"concepts": [...], "regions": [...], "text": "..."}`) or as the platform's
`{"outputs": [{"data": {...}}]}`.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import Field, ValidationError, field_validator

from pipeline.annotations import region_problem
from pipeline.collect.operators.base import Operator, OperatorParams
from pipeline.collect.operators.datum import Datum, RunContext
from pipeline.errors import IngestError, InputError
from pipeline.models import Concept, Region, Text
from pipeline.status import StatusCode

MAX_ITEMS = 10_000
FAILED = StatusCode.MODEL_PREDICTION_FAILED


def request_input(ctx: RunContext) -> dict[str, Any]:
    """The original input as the platform's input object (built once per event)."""
    cached = ctx.cache.get("model_input")
    if cached is None:
        source = ctx.input
        if isinstance(source, Text) and source.raw is not None:
            medium: dict[str, Any] = {"raw": source.raw}
        elif source.url is not None:
            medium = {"url": source.url}
        else:
            data = source.base64
            if data is None and source.blob_key is not None:
                if ctx.ports.media is None:
                    raise InputError(FAILED, "the model needs the input's bytes: no blob store")
                data = ctx.ports.media(source.blob_key)
            if isinstance(data, bytes):
                data = base64.b64encode(data).decode("ascii")
            medium = {"base64": data}
        kind = "text" if isinstance(source, Text) else ctx.input_type
        cached = {"id": ctx.event_id, "data": {kind: medium}}
        ctx.cache["model_input"] = cached
    return cached


def parse_prediction(answer: Any, where: str) -> tuple[list[Concept], list[Region], str | None]:
    """Concepts, regions and text from a model's JSON answer; InputError (21313) if unusable."""
    data = answer
    if isinstance(data, dict) and isinstance(data.get("outputs"), list):
        data = data["outputs"][0] if data["outputs"] else {}
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    if not isinstance(data, dict):
        raise InputError(FAILED, f"{where} answered {_kind(answer)}, not a JSON object")
    try:
        concepts = [_concept(c) for c in _items(data, "concepts")]
        regions = [_region(r) for r in _items(data, "regions")]
        text = data.get("text")
        if isinstance(text, dict):
            text = text.get("raw")
        if text is not None and not isinstance(text, str):
            raise ValueError(f"text is {_kind(text)}, not a string")
    except (ValueError, TypeError, ValidationError) as exc:
        raise InputError(FAILED, f"{where} answered something unusable: {_short(exc)}") from None
    return concepts, regions, text or None


def _items(data: dict[str, Any], name: str) -> list[Any]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{name} is {_kind(value)}, not a list")
    if len(value) > MAX_ITEMS:
        raise ValueError(f"{len(value)} {name}; at most {MAX_ITEMS}")
    return value


def _concept(raw: Any) -> Concept:
    if not isinstance(raw, dict):
        raise ValueError(f"a concept is {_kind(raw)}, not an object")
    concept_id = raw.get("id") or raw.get("name")
    return Concept(id=concept_id, name=raw.get("name"), value=raw.get("value", 1.0))


def _region(raw: Any) -> Region:
    if not isinstance(raw, dict):
        raise ValueError(f"a region is {_kind(raw)}, not an object")
    data = raw.get("data") or {}
    if not isinstance(data, dict):
        raise ValueError("region data is not an object")
    concepts = [_concept(c) for c in _items(data, "concepts")]
    region = Region.model_validate(
        {
            "id": raw.get("id"),
            "region_info": raw.get("region_info") or {},
            "data": {"concepts": concepts},
        }
    )
    problem = region_problem(region)  # the rules every stored annotation keeps
    if problem is not None:
        raise ValueError(problem)
    return region


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        return f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
    return str(exc)


def _predicted(datum: Datum, answer: Any, where: str, version: str) -> Datum:
    concepts, regions, text = parse_prediction(answer, where)
    # A model's output is new data: predictions replace the upstream ones.
    return datum.replace(
        concepts=concepts, regions=regions, text=text, model_version_id=version, written=False
    )


class HttpModelParams(OperatorParams):
    url: str = Field(description="http(s) URL of the inference endpoint (POST, JSON).")
    timeout: float = Field(default=10.0, gt=0.0, le=300.0, description="Seconds for the call.")
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with every call.")
    model_version_id: str = Field(default="", description="Attribution of its annotations.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return value

    @field_validator("headers")
    @classmethod
    def _clean(cls, value: dict[str, str]) -> dict[str, str]:
        for name, content in value.items():
            if any(ch in name + content for ch in "\r\n\x00"):
                raise ValueError(f"header {name!r} contains a line break or NUL")
        return value


class HttpModel(Operator):
    name = "model"
    summary = "call an HTTP inference endpoint with the input; read concepts, regions, text"
    Params = HttpModelParams
    p: HttpModelParams

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        if ctx.ports.inference is None:
            raise InputError(StatusCode.WORKFLOW_INTERNAL_FAILURE, "no HTTP inference client")
        body = {"inputs": [request_input(ctx)]}
        answer = ctx.ports.inference.post_json(
            self.p.url, body, timeout=self.p.timeout, headers=self.p.headers
        )
        where = f"model node {self.node_id!r}"
        return _predicted(datum, answer, where, self.p.model_version_id or self.node_id)


class PythonModelParams(OperatorParams):
    entry_point: str = Field(
        min_length=1, description="Name of a model in the `ingestd.models` entry-point group."
    )
    model_version_id: str = Field(default="", description="Attribution of its annotations.")


class PythonModel(Operator):
    name = "python-model"
    summary = "run an in-process model registered under the ingestd.models entry-point group"
    Params = PythonModelParams
    p: PythonModelParams

    def run(self, datum: Datum, ctx: RunContext) -> Datum | None:
        if ctx.ports.python_models is None:
            raise InputError(StatusCode.WORKFLOW_INTERNAL_FAILURE, "no Python model loader")
        predict = ctx.ports.python_models.load(self.p.entry_point)
        where = f"python model {self.p.entry_point!r}"
        try:
            answer = predict(request_input(ctx))
        except IngestError:
            raise
        except Exception as exc:  # the model's own failure: terminal for this capture
            raise InputError(FAILED, f"{where} raised {type(exc).__name__}: {exc}") from exc
        return _predicted(datum, answer, where, self.p.model_version_id or self.p.entry_point)
