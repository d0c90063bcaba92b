"""PostInputsSearches through serve: the SDK's `Search.query` filters (concepts, metadata,
input types, dataset ids, status) and pages; parts ingestd cannot apply refused with 40002;
ListInputs' status filter and pages on the same search."""

from __future__ import annotations

import pytest
from clarifai.client.search import Search
from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc
from clarifai_grpc.grpc.api.status import status_pb2

from pipeline.status import StatusCode
from tests.api.conftest import Server
from tests.api.test_grpc import APP, _meta, _stub
from tests.support.media import gradient_image


def _seed(api: Server) -> None:
    inputs = []
    for n in range(12):
        item = res.Input(
            id=f"t{n:02d}",
            data=res.Data(
                text=res.Text(raw=f"text {n}"),
                concepts=[res.Concept(id="cat" if n % 2 else "dog", value=1.0)],
            ),
            dataset_ids=["even"] if n % 2 == 0 else [],
        )
        item.data.metadata.update({"n": n % 3, "tags": {"shop": "a" if n < 6 else "b"}})
        inputs.append(item)
    inputs.append(
        res.Input(id="img", data=res.Data(image=res.Image(base64=gradient_image((9, 9)))))
    )
    inputs.append(res.Input(id="broken", data=res.Data(image=res.Image(base64=b"not an image"))))
    resp = _stub(api).PostInputs(
        svc.PostInputsRequest(user_app_id=APP, inputs=inputs), metadata=_meta(api.secret)
    )
    assert resp.status.code == StatusCode.MIXED_STATUS  # "broken" failed, stored as failed


def _ids(hits_pages: object) -> list[str]:
    return [hit.input.id for page in hits_pages for hit in page.hits]  # type: ignore[attr-defined]


def test_sdk_search_filters_and_pages(api: Server) -> None:
    _seed(api)
    search = Search(
        user_id="me", app_id="main", metric="euclidean", pagination=True,
        base_url=api.grpc_base, pat=api.secret,
    )  # fmt: skip
    cat = [{"concepts": [{"name": "cat", "value": 1}]}]
    assert _ids(search.query(filters=cat)) == [f"t{n:02d}" for n in range(1, 12, 2)]
    assert _ids(search.query(filters=cat, per_page=4)) == ["t01", "t03", "t05", "t07"]
    assert _ids(search.query(filters=cat, per_page=4, page_no=2)) == ["t09", "t11"]
    shop_b = _ids(
        search.query(
            filters=[{"metadata": {"tags": {"shop": "b"}}, "concepts": [{"id": "dog", "value": 1}]}]
        )
    )
    assert shop_b == ["t06", "t08", "t10"]
    in_even = _ids(search.query(filters=[{"input_dataset_ids": ["even"]}, {"metadata": {"n": 0}}]))
    assert in_even == ["t00", "t06"]
    images = _ids(search.query(filters=[{"input_types": ["image"]}]))
    assert images == ["img"]  # a failed upload has no media type: it was never decoded
    failed = _ids(search.query(filters=[{"input_status_code": 30101}]))
    assert failed == ["broken"]
    both = [{"input_types": ["image"], "input_status_code": 30000}, {"input_types": ["text"]}]
    refused = Search(
        user_id="me", app_id="main", metric="euclidean", base_url=api.grpc_base, pat=api.secret
    )
    with pytest.raises(Exception, match="excludes"):
        list(refused.query(filters=both))
    page2 = _ids(search.query(filters=[{"input_types": ["text"]}], page_no=2, per_page=5))
    assert page2 == ["t05", "t06", "t07", "t08", "t09"]


def test_unsupported_search_parts_are_refused(api: Server) -> None:
    _seed(api)
    stub, meta = _stub(api), _meta(api.secret)

    def post(query: res.Query, **kw: object) -> svc.MultiSearchResponse:
        request = svc.PostInputsSearchesRequest(
            user_app_id=APP, searches=[res.Search(query=query)], **kw
        )
        return stub.PostInputsSearches(request, metadata=meta)

    ranked = post(
        res.Query(
            ranks=[res.Rank(annotation=res.Annotation(data=res.Data(text=res.Text(raw="x"))))]
        )
    )
    assert (
        ranked.status.code == StatusCode.SEARCH_INVALID_REQUEST and "ranks" in ranked.status.details
    )
    negated = post(
        res.Query(
            filters=[
                res.Filter(
                    negate=True,
                    annotation=res.Annotation(
                        data=res.Data(concepts=[res.Concept(id="cat", value=1)])
                    ),
                )
            ]
        )
    )
    assert negated.status.code == StatusCode.SEARCH_INVALID_REQUEST
    assert "filters[0].negate" in negated.status.details
    geo = post(
        res.Query(
            filters=[
                res.Filter(
                    annotation=res.Annotation(
                        data=res.Data(geo=res.Geo(geo_point=res.GeoPoint(latitude=1)))
                    )
                )
            ]
        )
    )
    assert "annotation.data.geo" in geo.status.details
    two_sets = post(res.Query(filters=[res.Filter(input=res.Input(dataset_ids=["a", "b"]))]))
    assert two_sets.status.code == StatusCode.SEARCH_INVALID_REQUEST
    by_user = post(res.Query(filters=[res.Filter(annotation=res.Annotation(user_id="u"))]))
    assert "annotation.user_id" in by_user.status.details
    # The older `ands` map the same way; only_count answers how many match.
    ands = post(
        res.Query(
            ands=[
                res.And(input=res.Input(data=res.Data(concepts=[res.Concept(id="cat", value=1)])))
            ]
        ),
        only_count=True,
    )
    assert ands.status.code == StatusCode.SUCCESS and ands.hit_counts[0].estimated_total == 6
    absent = post(
        res.Query(
            filters=[
                res.Filter(
                    annotation=res.Annotation(
                        data=res.Data(concepts=[res.Concept(id="cat", value=0)])
                    )
                )
            ]
        )
    )
    assert absent.status.code == StatusCode.SUCCESS and absent.hits == []


def test_list_inputs_status_filter_and_pages(api: Server) -> None:
    _seed(api)
    stub, meta = _stub(api), _meta(api.secret)

    def listed(**kw: object) -> list[str]:
        resp = stub.ListInputs(svc.ListInputsRequest(user_app_id=APP, **kw), metadata=meta)
        assert resp.status.code == StatusCode.SUCCESS, resp.status
        return [i.id for i in resp.inputs]

    failed = [i for i in listed(per_page=100) if i == "broken"]
    assert failed == ["broken"]
    broken_code = stub.GetInput(
        svc.GetInputRequest(user_app_id=APP, input_id="broken"), metadata=meta
    ).input.status.code
    assert listed(status=status_pb2.Status(code=broken_code)) == ["broken"]
    ok = listed(status=status_pb2.Status(code=StatusCode.INPUT_SUCCESS), per_page=5, page=3)
    assert ok == ["t09", "t10", "t11"]  # img, t00 ... t11: 13 in id order
    bad = stub.ListInputs(
        svc.ListInputsRequest(user_app_id=APP, status=status_pb2.Status(code=12345)), metadata=meta
    )
    assert bad.status.code == StatusCode.SEARCH_INVALID_REQUEST
