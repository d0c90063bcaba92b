"""The official SDK's `Dataset.export` against serve: the CLARIFAI_DATA_PROTOBUF archive, its
download and every input's media over serve's HTTP port (with the app's key, never another
app's blobs)."""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from clarifai.client.dataset import Dataset
from clarifai_grpc.grpc.api import resources_pb2 as res
from PIL import Image

from pipeline.keys import Scope
from pipeline.status import StatusCode
from tests.api.conftest import Server
from tests.api.test_sdk import _labelled_folder
from tests.support.kafka_harness import wait_for


def _texts(root: Path, label: str, count: int) -> dict[str, bytes]:
    folder = root / label
    folder.mkdir(parents=True)
    out = {}
    for n in range(count):
        body = f"{label} review {n}: ünïcode stays as sent\n".encode()
        (folder / f"{label}_{n}.txt").write_bytes(body)
        out[f"{label}_{n}"] = body
    return out


def _exported(api: Server, tmp_path: Path) -> tuple[Dataset, dict[str, str], dict[str, bytes]]:
    """Labelled images and texts uploaded by the SDK into one dataset, then a ready version."""
    dataset = Dataset(
        user_id="me", app_id="main", dataset_id="pets", base_url=api.grpc_base, pat=api.secret
    )
    labels: dict[str, str] = {}
    for n, label in enumerate(("cat", "dog")):
        folder = _labelled_folder(tmp_path / "images", label, 3, 90 * n)
        dataset.upload_from_folder(folder_path=str(folder), input_type="image", labels=True)
        labels |= {p.stem: label for p in folder.iterdir()}
    texts = _texts(tmp_path / "texts", "review", 2)
    dataset.upload_from_folder(
        folder_path=str(tmp_path / "texts" / "review"), input_type="text", labels=True
    )
    labels |= dict.fromkeys(texts, "review")
    version = dataset.create_version(description="to export")
    catalog = api.served.runtime.catalog

    def ready() -> bool:
        row = catalog.versions.get_version("me", "main", version.version.id)
        return row is not None and row.status_code == StatusCode.DATASET_VERSION_READY

    wait_for(ready, 60, "the version to be ready", every=0.2)
    return version, labels, texts


def test_sdk_export_has_every_input_its_concepts_and_media(api: Server, tmp_path: Path) -> None:
    version, labels, texts = _exported(api, tmp_path)
    out = tmp_path / "export.zip"
    version.export(save_path=str(out))

    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        media = {n.split("/")[-1].rsplit(".", 1)[0]: n for n in names if "/inputs/" in n}
        assert sorted(media) == sorted(labels)  # every input, none twice
        for input_id, label in labels.items():
            notes = json.loads(zf.read(f"all/annotations/{input_id}.json"))
            assert [c["id"] for c in notes if "id" in c] == [label]
            got = zf.read(media[input_id])
            if input_id in texts:
                assert got == texts[input_id]  # text bytes exactly as uploaded
            else:
                sent = tmp_path / "images" / label / f"{input_id}.png"
                with Image.open(sent) as a, Image.open(io.BytesIO(got)) as b:
                    assert (a.size, a.tobytes()) == (b.size, b.convert(a.mode).tobytes())
        assert len(names) == 2 * len(labels)  # the SDK's own count check held too


def test_export_archive_is_a_zip_of_input_batches(api: Server, tmp_path: Path) -> None:
    version, labels, _ = _exported(api, tmp_path)
    url = version.archive_zip()
    assert url.startswith(f"{api.http_base}/v2/users/me/apps/main/datasets/pets/versions/")
    assert version.archive_zip() == url  # built once, then the same archive
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30)
    assert refused.value.code == 401  # no key, no archive
    assert _status(_keyed(url, api.key([Scope.ALL], app="other"))) == 403
    assert _status(_keyed(url.replace("CLARIFAI_DATA_PROTOBUF", "COCO"), api.secret)) == 404
    with urllib.request.urlopen(_keyed(url, api.secret), timeout=30) as r:
        assert r.headers["Content-Type"] == "application/zip"
        data = r.read()
    inputs: list[res.Input] = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("mimetype") == b"application/x.clarifai-data+protobuf"
        for name in zf.namelist():
            if name != "mimetype":
                batch = res.InputBatch.FromString(zf.read(name))
                assert int(name.split("_n")[-1]) == len(batch.inputs)
                inputs.extend(batch.inputs)
    assert sorted(i.id for i in inputs) == sorted(labels)
    cat = next(i for i in inputs if i.id == "cat_000")
    assert [c.id for c in cat.data.concepts] == ["cat"]
    assert list(cat.data.image.hosted.sizes) == ["orig"]
    assert cat.data.image.image_info.width == 16

    # Serve now reached at another address: the archive is rebuilt with URLs that work there.
    assert api.served.api is not None
    api.served.api.exports.base_url = "http://ingestd.example:9"
    assert version.archive_zip().startswith("http://ingestd.example:9/v2/users/me/apps/main/")
    row = api.served.runtime.catalog.versions.get_version("me", "main", version.version.id)
    assert row is not None
    rebuilt = api.served.runtime.blobs.get(row.export_info["CLARIFAI_DATA_PROTOBUF"]["url"])
    with zipfile.ZipFile(io.BytesIO(rebuilt)) as zf:
        first = res.InputBatch.FromString(zf.read(sorted(zf.namelist())[0])).inputs[0]
    assert first.data.image.hosted.prefix.startswith("http://ingestd.example:9/v2/")


def _keyed(url: str, secret: str) -> urllib.request.Request:
    return urllib.request.Request(url, headers={"Authorization": f"Key {secret}"})


def _status(request: urllib.request.Request | str) -> int:
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_media_urls_need_the_apps_key_and_serve_only_its_blobs(api: Server, tmp_path: Path) -> None:
    version, _, _ = _exported(api, tmp_path)
    with urllib.request.urlopen(_keyed(version.archive_zip(), api.secret), timeout=30) as r:
        archive = io.BytesIO(r.read())
    with zipfile.ZipFile(archive) as zf:
        batch = res.InputBatch.FromString(zf.read(sorted(zf.namelist())[0]))
    hosted = next(i for i in batch.inputs if i.id == "cat_000").data.image.hosted
    url = f"{hosted.prefix}/orig/{hosted.suffix}"
    assert _status(_keyed(url, api.secret)) == 200
    assert _status(url) == 401
    other = api.key([Scope.ALL], app="other")
    assert _status(_keyed(url, other)) == 403  # a key of another app
    # Another app's key on its own path, naming main's blob: not one of its blobs.
    theirs = url.replace("/apps/main/", "/apps/other/")
    assert _status(_keyed(theirs, other)) == 404
    base = f"{api.http_base}/v2/users/me/apps/main/media/orig"
    for hostile in ("media/..%2F..%2Fother/x.png", "../../other/main/x", "media/ab/..", "x/ab/c"):
        assert _status(_keyed(f"{base}/{hostile}", api.secret)) == 404
    writer = api.key([Scope.POST_INPUTS])
    assert _status(_keyed(url, writer)) == 403  # a key without GetInputs


def test_a_medium_of_many_chunks_streams_whole(api: Server) -> None:
    big = os.urandom(3 * (1 << 20) + 12345)  # several of http_wire's 1 MiB chunks
    tail = f"ab/{'ab' * 32}.bin"
    api.served.runtime.blobs.put(f"media/me/main/{tail}", big)
    url = f"{api.http_base}/v2/users/me/apps/main/media/orig/media/{tail}"
    with urllib.request.urlopen(_keyed(url, api.secret), timeout=30) as r:
        assert int(r.headers["Content-Length"]) == len(big)
        assert r.read() == big
