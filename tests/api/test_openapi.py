"""The served OpenAPI document covers every HTTP route, and schemathesis, generating requests
from it against the embedded default, finds no 5xx and no answer that breaks the document."""

from __future__ import annotations

import json
import urllib.request

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ingestd.api.http_server import ROUTE_TABLE
from tests.api.conftest import Server

_EXAMPLES = 6  # per operation and mode: 34 operations x 2 modes stay under a minute


def test_every_route_is_in_the_document(api: Server) -> None:
    with urllib.request.urlopen(f"{api.http_base}/openapi.json", timeout=30) as r:
        doc = json.load(r)
    served = {(verb.lower(), f"/v2{path}") for verb, path, _ in ROUTE_TABLE}
    served |= {(v, f"/v2/users/{{user_id}}/apps/{{app_id}}{p[3:]}") for v, p in served}
    served |= {("get", p) for p in ("/healthz", "/readyz", "/metrics", "/openapi.json")}
    app = "/v2/users/{user_id}/apps/{app_id}"
    served |= {
        ("get", f"{app}/datasets/{{dataset_id}}/versions/{{version_id}}/exports/{{format}}"),
        ("get", f"{app}/media/orig/{{namespace}}/{{key}}"),
    }  # served beside the V2 routes (ingestd/api/http_server.py, downloads.py)
    documented = {(verb, path) for path, ops in doc["paths"].items() for verb in ops}
    assert documented == served


def test_schemathesis_finds_nothing(api: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{api.http_base}/openapi.json")
    headers = {"Authorization": f"Key {api.secret}"}
    checks = [
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
        content_type_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    # + /healthz, /readyz, /metrics and the two downloads; schemathesis leaves out the
    # document's own URL (/openapi.json) when it loads the schema from it.
    assert len(operations) == 2 * len(ROUTE_TABLE) + 5
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            takes = operation.path_parameters or operation.query or operation.body
            if mode is schemathesis.GenerationMode.NEGATIVE and not takes:
                continue  # /healthz and the like take nothing that could be wrong
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy, me=st.booleans())
            def run(case: schemathesis.Case, me: bool) -> None:
                if me and case.path_parameters and "user_id" in case.path_parameters:
                    case.path_parameters |= {"user_id": "me", "app_id": "main"}  # its own app too
                case.call_and_validate(base_url=api.http_base, headers=headers, checks=checks)

            run()
