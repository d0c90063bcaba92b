"""Blob stores: the local directory and S3 over HTTP (moto's server, versitygw) behave the same."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from connectors.blobs import LocalBlobStore, open_blob_store
from connectors.blobs.s3 import MULTIPART_THRESHOLD
from pipeline.errors import InputError, TransientError
from tests.support.storage import make_settings


@pytest.fixture(params=["local", "moto", "versitygw"])
def store(request, tmp_path):
    settings = make_settings(tmp_path, "sqlite", request.param, request)
    return open_blob_store(settings.blobs, settings.s3())


def test_put_get_list_delete(store, tmp_path: Path) -> None:
    store.put("media/a/1.bin", b"one")
    store.put("media/a/1.bin", b"one")  # idempotent rewrite
    store.put("media/b/2.bin", b"two")
    assert store.get("media/a/1.bin") == b"one"
    assert store.exists("media/b/2.bin") and not store.exists("media/c/3.bin")
    assert store.size("media/b/2.bin") == 3 and store.size("nope") is None
    assert sorted(store.keys("media/")) == ["media/a/1.bin", "media/b/2.bin"]
    assert list(store.keys("media/a")) == ["media/a/1.bin"]
    store.delete("media/a/1.bin")
    assert not store.exists("media/a/1.bin")
    out = tmp_path / "copy.bin"
    store.download("media/b/2.bin", out)
    assert out.read_bytes() == b"two"


def test_large_objects_stream_from_files_as_multipart(store, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(MULTIPART_THRESHOLD + 1024 * 1024))
    store.put_file("media/big.bin", big)
    store.put("media/big2.bin", big.read_bytes())
    for key in ("media/big.bin", "media/big2.bin"):
        assert hashlib.sha256(store.get(key)).digest() == hashlib.sha256(big.read_bytes()).digest()
    if hasattr(store, "client"):  # S3: the object was uploaded in parts
        head = store.client.head_object(Bucket=store.bucket, Key=store._key("media/big.bin"))
        assert head["ETag"].strip('"').endswith("-2")


def test_local_store_refuses_keys_that_escape(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    for key in ("../outside", "a/../../outside", "/etc/passwd"):
        with pytest.raises(InputError):
            store.put(key, b"x")
    assert not (tmp_path / "outside").exists()


@pytest.mark.parametrize("server", ["moto", "versitygw"])
def test_s3_outage_is_a_transient_error(tmp_path, request, server: str) -> None:
    settings = make_settings(tmp_path, "sqlite", server, request)
    store = open_blob_store(settings.blobs, settings.s3())
    s3 = request.getfixturevalue(server)
    s3.stop()
    try:
        with pytest.raises(TransientError):
            store.put("media/x", b"x")
    finally:
        s3.start()
    store.put("media/x", b"x")
    assert store.get("media/x") == b"x"


@pytest.mark.parametrize("server", ["moto", "versitygw"])
def test_a_bucket_another_worker_created_meanwhile_is_the_store_s_bucket(
    tmp_path, request, server: str
) -> None:
    """Two workers starting at once both find the bucket missing and both create it: the
    second's CreateBucket answers BucketAlreadyOwnedByYou on a real server (moto says 200)."""
    settings = make_settings(tmp_path, "sqlite", server, request)
    store = open_blob_store(settings.blobs, settings.s3())  # the first worker made it
    store.put("media/x", b"x")
    missing = ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadBucket")
    head = store.client.head_bucket
    store.client.head_bucket = lambda **kw: (_ for _ in ()).throw(missing)  # what it saw
    try:
        store.ensure_bucket()
    finally:
        store.client.head_bucket = head
    assert store.get("media/x") == b"x"
