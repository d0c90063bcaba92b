"""Whose credentials a drop-zone job acts with, against versitygw (a server that, unlike moto,
checks signatures): a job posted without credentials reads as nobody, never as the server."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from connectors.importers.s3_source import S3Credentials
from tests.support.versitygw import VersityGateway


def test_anonymous_jobs_never_borrow_the_servers_credentials(
    versitygw: VersityGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = f"private-{uuid.uuid4().hex[:8]}"
    versitygw.client().create_bucket(Bucket=bucket)
    # The server's own credentials, where boto3's default chain finds them.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", versitygw.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", versitygw.secret_access_key)
    url = versitygw.endpoint_url

    anonymous = S3Credentials(endpoint_url=url, anonymous=True)
    assert anonymous.source == "anonymous"
    with pytest.raises(ClientError) as refused:
        anonymous.client().list_objects_v2(Bucket=bucket)
    assert refused.value.response["Error"]["Code"] in {"AccessDenied", "403"}

    # What the operator may allow (INGESTD_API_LIMITS__SERVER_CREDENTIALS) and the CLI does.
    chain = S3Credentials(endpoint_url=url)
    assert chain.source == "default chain"
    assert chain.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    given = S3Credentials(
        endpoint_url=url,
        access_key_id=versitygw.access_key_id,
        secret_access_key=SecretStr(versitygw.secret_access_key),
        anonymous=True,  # ignored: the request's own credentials are used
    )
    assert given.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0
