"""`ingestd serve` over gRPC with clarifai-grpc's own stub: auth, status codes, UNIMPLEMENTED."""

from __future__ import annotations

import json
import urllib.request

import grpc
import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc
from clarifai_grpc.grpc.api import service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_pb2

from pipeline.keys import Scope
from pipeline.status import StatusCode
from tests.api.conftest import Server
from tests.support.media import gradient_image

APP = res.UserAppIDSet(user_id="me", app_id="main")


def _stub(server: Server) -> service_pb2_grpc.V2Stub:
    channel = ClarifaiChannel.get_insecure_grpc_channel("127.0.0.1", server.served.grpc_port)
    return service_pb2_grpc.V2Stub(channel)


def _meta(secret: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Key {secret}"),)


def _text(input_id: str, text: str) -> res.Input:
    return res.Input(id=input_id, data=res.Data(text=res.Text(raw=text)))


def test_keys_act_for_their_app_and_scopes_only(server: Server) -> None:
    stub = _stub(server)
    request = svc.ListInputsRequest(user_app_id=APP)
    assert stub.ListInputs(request).status.code == StatusCode.CONN_KEY_NOT_FOUND  # no key
    bogus = stub.ListInputs(request, metadata=_meta("ik_not-a-key"))
    assert bogus.status.code == StatusCode.CONN_KEY_NOT_FOUND
    assert "ik_not-a-key" not in bogus.status.details
    other = server.key([Scope.ALL], app="other")
    assert (
        stub.ListInputs(request, metadata=_meta(other)).status.code == StatusCode.CONN_KEY_INVALID
    )
    reader = server.key([Scope.GET_INPUTS])
    assert stub.ListInputs(request, metadata=_meta(reader)).status.code == StatusCode.SUCCESS
    post = svc.PostInputsRequest(user_app_id=APP, inputs=[_text("a", "hello")])
    denied = stub.PostInputs(post, metadata=_meta(reader))
    assert denied.status.code == StatusCode.CONN_INSUFFICIENT_SCOPES
    assert server.served.runtime.catalog.get_input("me", "main", "a") is None


def test_post_inputs_answers_each_input_and_the_batch(api: Server) -> None:
    stub = _stub(api)
    good = res.Input(
        id="img",
        data=res.Data(
            image=res.Image(base64=gradient_image((20, 10))),
            concepts=[res.Concept(id="sky", value=1.0)],
            geo=res.Geo(geo_point=res.GeoPoint(latitude=48.8, longitude=2.3)),
        ),
        dataset_ids=["ds"],
    )
    good.data.metadata.update({"camera": "a"})
    not_image = res.Input(id="junk", data=res.Data(image=res.Image(base64=b"no image here")))
    bad_id = _text("a/b", "separator in the id")
    resp = stub.PostInputs(
        svc.PostInputsRequest(
            user_app_id=APP, inputs=[good, not_image, bad_id], inputs_add_job_id="j1"
        ),
        metadata=_meta(api.secret),
    )
    assert resp.status.code == StatusCode.MIXED_STATUS
    codes = [i.status.code for i in resp.inputs]
    assert codes[0] == StatusCode.INPUT_SUCCESS
    assert codes[1] != StatusCode.INPUT_SUCCESS and codes[2] == StatusCode.INPUT_INVALID_ARGUMENT
    job = stub.GetInputsAddJob(
        svc.GetInputsAddJobRequest(user_app_id=APP, id="j1"), metadata=_meta(api.secret)
    )
    progress = job.inputs_add_job.progress
    assert (progress.pending_count, progress.in_progress_count) == (0, 0)
    assert (progress.success_count, progress.failed_count) == (1, 2)

    got = stub.GetInput(
        svc.GetInputRequest(user_app_id=APP, input_id="img"), metadata=_meta(api.secret)
    )
    assert got.input.data.concepts[0].id == "sky" and got.input.dataset_ids == ["ds"]
    assert got.input.data.metadata["camera"] == "a"
    patched = stub.PatchInputs(
        svc.PatchInputsRequest(
            user_app_id=APP,
            action="merge",
            inputs=[
                res.Input(id="img", data=res.Data(concepts=[res.Concept(id="sea", value=1.0)])),
                res.Input(id="missing", data=res.Data(concepts=[res.Concept(id="x", value=1.0)])),
            ],
        ),
        metadata=_meta(api.secret),
    )
    assert patched.status.code == StatusCode.MIXED_STATUS
    assert [c.id for c in patched.inputs[0].data.concepts] == ["sky", "sea"]
    assert patched.inputs[1].status.code == StatusCode.INPUT_DOES_NOT_EXIST


def test_unserved_methods_are_unimplemented(api: Server) -> None:
    with pytest.raises(grpc.RpcError) as err:
        _stub(api).ListModels(svc.ListModelsRequest(user_app_id=APP), metadata=_meta(api.secret))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_http_routes_share_the_handlers(api: Server) -> None:
    body = json.dumps({"inputs": [{"id": "t1", "data": {"text": {"raw": "hi"}}}]}).encode()
    post = urllib.request.Request(
        f"{api.http_base}/v2/users/me/apps/main/inputs",
        data=body,
        method="POST",
        headers={"Authorization": f"Key {api.secret}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(post, timeout=30) as r:
        answer = json.load(r)
    assert answer["status"]["code"] == StatusCode.SUCCESS
    listed = urllib.request.Request(
        f"{api.http_base}/v2/inputs?per_page=5", headers={"Authorization": f"Key {api.secret}"}
    )
    with urllib.request.urlopen(listed, timeout=30) as r:
        assert [i["id"] for i in json.load(r)["inputs"]] == ["t1"]
    with urllib.request.urlopen(f"{api.http_base}/readyz", timeout=30) as r:
        assert r.status == 200
    no_key = urllib.request.Request(f"{api.http_base}/v2/inputs")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(no_key, timeout=30)
    assert err.value.code == 401


def test_clarifai_grpc_json_channel_over_http(api: Server) -> None:
    stub = service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=api.http_base))
    meta = _meta(api.secret)
    posted = stub.PostInputs(
        svc.PostInputsRequest(user_app_id=APP, inputs=[_text("t1", "one"), _text("t2", "two")]),
        metadata=meta,
    )
    assert posted.status.code == StatusCode.SUCCESS
    wanted = svc.ListInputsRequest(
        user_app_id=APP, ids=["t1", "t2", "nope"], status=status_pb2.Status(code=30000)
    )
    assert sorted(i.id for i in stub.ListInputs(wanted, metadata=meta).inputs) == ["t1", "t2"]
    patched = stub.PatchInputs(
        svc.PatchInputsRequest(
            user_app_id=APP,
            action="overwrite",
            inputs=[res.Input(id="t2", data=res.Data(concepts=[res.Concept(id="c", value=1.0)]))],
        ),
        metadata=meta,
    )
    assert patched.status.code == StatusCode.SUCCESS
    row = api.served.runtime.catalog.get_input("me", "main", "t2")
    assert row is not None and [c["id"] for c in row["concepts"]] == ["c"]


def _metric(base: str, line_start: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as r:
        text = r.read().decode()
    found = [ln for ln in text.splitlines() if ln.startswith(line_start)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def test_metrics_count_calls_by_route_and_code(api: Server) -> None:
    ok = 'ingestd_api_requests_total{code="10000",route="ListInputs",transport="grpc"}'
    denied = 'ingestd_api_requests_total{code="11009",route="ListInputs",transport="http"}'
    before = _metric(api.http_base, ok), _metric(api.http_base, denied)
    _stub(api).ListInputs(svc.ListInputsRequest(user_app_id=APP), metadata=_meta(api.secret))
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{api.http_base}/v2/inputs", timeout=30)
    after = _metric(api.http_base, ok), _metric(api.http_base, denied)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
