"""`ingestd inputs list` filters and cursors, `--where` on patch/delete and dataset edits,
`inputs download` and the text of `inputs get`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ingestd.app.runtime import Runtime
from ingestd.cli.inputs_media import TEXT_SHOWN
from pipeline.events import UploadRequest
from pipeline.models import Data, Input, Text
from tests.support.cli import run
from tests.support.snapshots import DATASET

pytestmark = pytest.mark.parametrize("storage", ["sqlite-local", "postgres-s3"], indirect=True)


def listed(*args: str) -> list[str]:
    return [r["id"] for r in run("inputs", "list", *args, "--json")["inputs"]]


def test_list_filters_and_cursor(cli: Runtime) -> None:
    assert listed("--concept", "cat") == ["img-a"]
    assert listed("--not-concept", "dog") == ["img-d"]
    assert listed("--type", "text") == ["txt-e"]
    assert listed("--metadata", '{"batch": 1}', "--dataset", DATASET) == ["img-a"]
    assert listed("--id-prefix", "img-", "--status", "30000", "--order", "-id") == [
        "img-d", "img-c", "img-b", "img-a",
    ]  # fmt: skip
    assert listed("--source", "api", "--since", "2000-01-01", "--until", "2999-01-01") == listed()
    assert (
        listed("--run", "no-such-run") == listed("--collector", "c") == listed("--job", "j") == []
    )
    assert listed("--where", '{"concepts": ["note"]}') == ["txt-e"]

    seen: list[str] = []
    args = ["--order", "-created_at", "--limit", "2"]
    page = run("inputs", "list", *args, "--json")
    while True:
        seen += [r["id"] for r in page["inputs"]]
        if page["next_cursor"] is None:
            break
        page = run("inputs", "list", *args, "--cursor", page["next_cursor"], "--json")
    assert sorted(seen) == sorted(listed()) and len(seen) == 6
    human = run("inputs", "list", "--limit", "2")
    assert "more: --cursor" in human

    # Bad searches: the code and what to fix.
    err = run("inputs", "list", "--where", '{"concept": ["cat"]}', "--json", code=1)
    assert err["status"]["code"] == 40002 and "concept: unknown field" in err["status"]["details"]
    err = run("inputs", "list", "--cursor", page["inputs"][0]["id"], "--json", code=1)
    assert err["status"]["code"] == 40002 and "cursor" in err["status"]["details"]
    shown = run("inputs", "list", "--metadata", "{nope", code=1)
    assert "40002" in shown and "--metadata is not valid JSON" in shown
    shown = run("inputs", "list", "--since", "yesterday", code=1)
    assert "--since must be an ISO time" in shown
    shown = run("inputs", "list", "--type", "pdf", code=1)
    assert "media_type" in shown
    shown = run("inputs", "list", "--concept", "x", "--where", '{"concepts": ["y"]}', code=1)
    assert "given both" in shown


def test_patch_and_delete_by_a_search(cli: Runtime) -> None:
    where = '{"media_type": ["image"], "dataset_id": "pets"}'
    out = run("inputs", "patch", "--where", where, "--metadata", '{"split": "val"}', "--json")
    assert [i["id"] for i in out["inputs"]] == ["img-a", "img-b", "img-c", "img-d"]
    assert listed("--metadata", '{"split": "val"}') == ["img-a", "img-b", "img-c", "img-d"]
    err = run("inputs", "patch", "--where", '{"colour": 1}', "--metadata", "{}", "--json", code=1)
    assert err["status"]["code"] == 40002
    assert run("inputs", "patch", "img-a", "--where", where, "--metadata", "{}", code=1)

    out = run("inputs", "delete", "--where", '{"metadata": {"split": "val"}, "concepts": ["cat"]}',
              "--json")  # fmt: skip
    assert [(i["id"], i["action"]) for i in out["inputs"]] == [("img-a", "deleted")]
    assert listed("--metadata", '{"split": "val"}') == ["img-b", "img-c", "img-d"]
    out = run("inputs", "delete", "--where", '{"id_prefix": "zzz"}', "--json")
    assert out["inputs"] == [] and out["status"]["code"] == 10000


def test_dataset_edits(cli: Runtime) -> None:
    def count() -> int:
        return {d["id"]: d["inputs_count"] for d in run("datasets", "list", "--json")}[DATASET]

    assert count() == len(run("datasets", "inputs", DATASET, "--json")) == 5
    run("inputs", "delete", "img-b")
    assert count() == len(run("datasets", "inputs", DATASET, "--json")) == 4

    out = run("datasets", "add-inputs", DATASET, "not-in-dataset", "img-a", "ghost", "--json",
              code=1)  # fmt: skip
    assert [(i["id"], i["code"]) for i in out["inputs"]] == [
        ("not-in-dataset", 64100), ("img-a", 64101), ("ghost", 30102),
    ]  # fmt: skip
    assert count() == 5
    out = run("datasets", "remove-inputs", DATASET, "--where", '{"media_type": ["text"]}', "--json")
    assert [(i["id"], i["action"]) for i in out["inputs"]] == [("txt-e", "removed")]
    assert count() == len(run("datasets", "inputs", DATASET, "--json")) == 4
    shown = run("datasets", "add-inputs", "nope", "img-a", code=1)
    assert "11101" in shown and "no dataset 'nope'" in shown

    out = run("datasets", "update", DATASET, "--description", "pets v2",
              "--metadata", '{"owner": {"team": "a"}}', "--json")  # fmt: skip
    assert out["description"] == "pets v2" and out["metadata"] == {"owner": {"team": "a"}}
    out = run("datasets", "update", DATASET, "--metadata", '{"owner": {"lead": "b"}}', "--json")
    assert out["metadata"] == {"owner": {"team": "a", "lead": "b"}}
    out = run("datasets", "update", DATASET, "--metadata", '{"v": 2}', "--action", "overwrite",
              "--default-filter", '{"user_ids": ["alice"]}', "--json")  # fmt: skip
    assert out["metadata"] == {"v": 2}
    assert out["default_filter"]["annotation_filter"]["user_ids"] == ["alice"]
    assert run("datasets", "filter", "get", DATASET, "--json") == out["default_filter"]
    out = run("datasets", "update", DATASET, "--default-filter", "none", "--json")
    assert out["default_filter"] is None
    assert "nothing to update" in run("datasets", "update", DATASET, code=1)
    assert "no dataset 'nope'" in run("datasets", "update", "nope", "--description", "x", code=1)

    out = run("datasets", "delete", DATASET, "--json")
    assert out == {"id": DATASET, "deleted": True, "inputs_kept": 4}
    assert DATASET not in [d["id"] for d in run("datasets", "list", "--json")]
    assert run("inputs", "get", "img-a", "--json")["dataset_ids"] == []
    assert "no dataset" in run("datasets", "delete", DATASET, code=1)


def test_download_and_text(cli: Runtime, tmp_path: Path) -> None:
    out = run("inputs", "download", "img-a", "-o", "out/a.jpg", "--json")
    data = (tmp_path / "out" / "a.jpg").read_bytes()
    row = run("inputs", "get", "img-a", "--json")
    assert out["bytes"] == len(data) == row["size"]
    assert hashlib.sha256(data).hexdigest() == row["sha256"]
    assert "30102" in run("inputs", "download", "ghost", "-o", "x", code=1)
    assert not list(tmp_path.glob("out/.*"))  # no temporary file left behind

    got = run("inputs", "get", "txt-e", "--json")
    assert (got["text"], got["text_truncated"]) == ("a note about pets", False)
    assert "a note about pets" in run("inputs", "get", "txt-e")
    assert "text" not in run("inputs", "get", "img-a", "--json")

    long = "é" * 3000  # 6000 bytes: cut inside the limit, never inside a character
    req = UploadRequest(inputs=[Input(id="long", data=Data(text=Text(raw=long)))])
    assert not cli.ingest.handle(req).failed
    got = run("inputs", "get", "long", "--json")
    assert got["text_truncated"] and got["text"] == "é" * (TEXT_SHOWN // 2)
    assert "truncated: the first 4096 bytes" in run("inputs", "get", "long")
