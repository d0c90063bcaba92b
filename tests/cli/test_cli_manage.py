"""`ingestd inputs patch|delete` and `ingestd gc`."""

from __future__ import annotations

import pytest

from ingestd.app.runtime import Runtime
from tests.support.cli import run
from tests.support.snapshots import DATASET

pytestmark = pytest.mark.parametrize("storage", ["sqlite-local", "postgres-s3"], indirect=True)


def test_patch_by_ids_and_dataset(cli: Runtime) -> None:
    out = run("inputs", "patch", "img-c", "ghost", "--concepts", "cat:1,dog:0",
              "--metadata", '{"split": "train"}', "--geo", "10,20", "--json", code=1)  # fmt: skip
    assert out["status"]["description"] == "MIXED_STATUS"
    assert [(i["id"], i["code"]) for i in out["inputs"]] == [("img-c", 30200), ("ghost", 30102)]
    row = run("inputs", "get", "img-c", "--json")
    assert row["metadata"] == {"split": "train"}
    assert row["concepts"] == [{"id": "cat", "value": 1.0}, {"id": "dog", "value": 0.0}]
    assert row["geo"] == {"geo_point": {"latitude": 10.0, "longitude": 20.0}}

    out = run("inputs", "patch", "--dataset", DATASET, "--action", "remove",
              "--metadata", '{"split": true}', "--json")  # fmt: skip
    assert out["status"]["description"] == "SUCCESS" and len(out["inputs"]) == 5
    assert run("inputs", "get", "img-c", "--json")["metadata"] == {}

    shown = run("inputs", "patch", "img-c", "--concepts", "cat:2", code=1)
    assert "30104 INPUT_INVALID_ARGUMENT" in shown
    shown = run("inputs", "patch", "img-c", "--geo", "91,0", code=1)
    assert "--geo must be LAT,LON" in shown
    shown = run("inputs", "patch", "img-c", code=1)
    assert "24900" in shown and "nothing to patch" in shown
    shown = run("inputs", "patch", "--dataset", "nope", "--metadata", "{}", code=1)
    assert "no dataset 'nope'" in shown
    table = run("inputs", "patch", "ghost", "--metadata", '{"a": 1}', code=1)
    assert "30102 INPUT_DOES_NOT_EXIST" in table


def test_delete_and_gc(cli: Runtime) -> None:
    out = run("inputs", "delete", "img-a", "ghost", "--json", code=1)
    assert [(i["id"], i["action"]) for i in out["inputs"]] == [
        ("img-a", "deleted"),
        ("ghost", "failed"),
    ]
    listed = run("datasets", "inputs", DATASET, "--json")
    assert "img-a" not in [r["id"] for r in listed]
    out = run("inputs", "delete", "--dataset", DATASET, "--json")
    assert len(out["inputs"]) == 4 and out["status"]["code"] == 10000
    assert run("inputs", "delete", code=1)  # neither ids nor --dataset

    report = run("gc", "--grace", "0s", "--dry-run", "--json")
    assert report["dry_run"] and report["removed_count"] >= 5
    assert all(cli.blobs.exists(k) for k in report["removed"])
    report = run("gc", "--grace", "0s", "--json")
    assert report["removed_count"] >= 5
    assert not any(cli.blobs.exists(k) for k in report["removed"])
    kept = run("inputs", "get", "not-in-dataset", "--json")["blob_key"]
    assert cli.blobs.exists(kept)
    assert "use e.g. 30m" in run("gc", "--grace", "soon", code=1)
    assert "ingestd gc" in run("gc")
