"""Lineage from the CLI: run ids of imports, `inputs get`, `versions diff --by`, and imports
that say what happened (folder ids, retries with the run's options, refused items counted)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from connectors.catalog.request_tables import shown_id
from connectors.importers.folder import input_id_for
from ingestd.app.runtime import Runtime
from tests.support.cli import run as invoke
from tests.support.storage import image_bytes, use_storage

RUN_ID = re.compile(r"run-[0-9a-f]{12}")


@pytest.fixture
def cli(embedded: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Runtime:
    use_storage(monkeypatch, embedded.settings)
    monkeypatch.chdir(tmp_path)
    return embedded


def folder(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def test_imports_print_their_run_and_inputs_get_shows_where_an_input_came_from(
    cli: Runtime, tmp_path: Path
) -> None:
    d = folder(tmp_path / "photos", {"cats/a.jpg": image_bytes(), "note.txt": "hello"})
    first = invoke("import", "folder", str(d), "--json")
    assert RUN_ID.fullmatch(first["run_id"])
    text = invoke("import", "folder", str(d))  # the same folder again: nothing new
    second = RUN_ID.search(text)
    assert second is not None and second.group() != first["run_id"]

    a = input_id_for(d.resolve(), "cats/a.jpg")
    got = invoke("inputs", "get", a, "--json")
    # Unchanged by the second run: the lineage names the run that added it.
    assert got["lineage"] == {
        "source": "folder",
        "run_id": first["run_id"],
        "job_id": None,
        "request_id": got["request_id"],
        "source_uri": (d.resolve() / "cats" / "a.jpg").as_posix(),
        "source_etag": None,
        "collector_id": None,
        "event_id": None,
        "parent_input_id": None,
    }
    shown = invoke("inputs", "get", a)
    assert f"run_id: {first['run_id']}" in shown
    assert f"source_uri: {(d.resolve() / 'cats' / 'a.jpg').as_posix()}" in shown


def test_csv_rows_keep_their_url_file_or_line_as_source(cli: Runtime, tmp_path: Path) -> None:
    (tmp_path / "cat.jpg").write_bytes(image_bytes(color="blue"))
    path = tmp_path / "rows.csv"
    path.write_text("inputid,input\nfile,cat.jpg\nwords,just some words\n")
    summary = invoke("import", "csv", str(path), "--json")
    assert summary["actions"] == {"created": 2}
    lineage = {i: invoke("inputs", "get", i, "--json")["lineage"] for i in ("file", "words")}
    assert lineage["file"]["source_uri"] == (tmp_path / "cat.jpg").absolute().as_posix()
    assert lineage["words"]["source_uri"] == f"{path.absolute().as_posix()}:3"
    assert {x["run_id"] for x in lineage.values()} == {summary["run_id"]}
    assert {x["source"] for x in lineage.values()} == {"csv"}


def test_two_folders_with_the_same_relative_path_are_two_inputs(
    cli: Runtime, tmp_path: Path
) -> None:
    a = folder(tmp_path / "a", {"note.txt": "from a"})
    b = folder(tmp_path / "b", {"note.txt": "from b"})
    assert invoke("import", "folder", str(a), "--json")["actions"] == {"created": 1}
    # Before: b's note.txt had a's id, so it was skipped (40010) and the import exited 0.
    assert invoke("import", "folder", str(b), "--json")["actions"] == {"created": 1}
    assert invoke("import", "folder", str(a), "--json")["actions"] == {"unchanged": 1}
    ids = [input_id_for(p.resolve(), "note.txt") for p in (a, b)]
    assert ids[0] != ids[1]
    for input_id, root in zip(ids, (a, b), strict=True):
        row = cli.catalog.get_input("me", "main", input_id)
        assert row is not None and row["source_uri"] == (root.resolve() / "note.txt").as_posix()


def test_retry_failed_redoes_items_with_the_options_of_the_run_it_retries(
    cli: Runtime, tmp_path: Path
) -> None:
    d = folder(tmp_path / "pets", {"cats/a.jpg": image_bytes(), "cats/b.jpg": b"not an image"})
    report = tmp_path / "report.jsonl"
    first = invoke(
        "import", "folder", str(d), "--labels", "--dataset", "pets", "--metadata",
        '{"batch": 1}', "--conflict", "SUFFIX", "--report", str(report), "--json", code=1,
    )  # fmt: skip
    line = json.loads(report.read_text().splitlines()[0])
    assert line["item"] == "cats/b.jpg" and line["run"]["run_id"] == first["run_id"]
    assert line["run"]["options"] == {
        "dataset": ["pets"], "metadata": {"batch": 1}, "conflict": "SUFFIX", "labels": True,
    }  # fmt: skip

    (d / "cats" / "b.jpg").write_bytes(image_bytes(color="green"))
    # An option that contradicts the recorded one is refused, naming both values.
    out = invoke("import", "folder", str(d), "--retry-failed", str(report), "-d", "other", code=1)
    assert "--dataset" in out and "contradicts" in out and "pets" in out
    out = invoke("import", "folder", str(tmp_path), "--retry-failed", str(report), code=1)
    assert "retry with that one" in " ".join(out.split())
    # Only --retry-failed: the retried item gets the labels, dataset and metadata of run 1.
    again = invoke("import", "folder", str(d), "--retry-failed", str(report), "--json")
    assert again["total"] == 1 and again["actions"] == {"updated": 1}
    b = cli.catalog.get_input("me", "main", input_id_for(d.resolve(), "cats/b.jpg"))
    assert b is not None
    assert [c["id"] for c in b["concepts"]] == ["cats"] and b["metadata"] == {"batch": 1}
    assert b["dataset_ids"] == ["pets"] and b["run_id"] == again["run_id"]
    # Repeating a recorded option is no contradiction.
    invoke("import", "folder", str(d), "--retry-failed", str(report), "--labels", "--json")


def test_items_refused_before_the_ingest_stage_count_as_errors_with_their_codes(
    cli: Runtime, tmp_path: Path
) -> None:
    d = folder(tmp_path / "d", {"ok.txt": "fine", "blob.bin": b"\x00\x01\x02" * 10})
    with open(os.fsencode(d) + b"/bad\xff.txt", "wb") as fh:
        fh.write(b"a name that is not UTF-8")
    summary = invoke("import", "folder", str(d), "--json", code=1)
    assert summary["actions"] == {"created": 1, "failed": 2}
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("inputid,input\nbad/id,some text\nmissing,./nowhere.jpg\n")
    assert invoke("import", "csv", str(csv_path), "--json", code=1)["actions"] == {"failed": 2}

    assert invoke("inputs", "status", "--json") == {
        "processed": 1, "to_process": 0, "processing": 0, "errors": 4,
    }  # fmt: skip
    failed = {r["id"]: r for r in invoke("inputs", "list", "--failed", "--json")["inputs"]}
    blob = input_id_for(d.resolve(), "blob.bin")
    assert {i: r["status_code"] for i, r in failed.items()} == {
        blob: 30101,  # INPUT_UNSUPPORTED_FORMAT: a failed input under its id
        "missing": 30102,  # INPUT_DOES_NOT_EXIST
        "csv/rows.csv:2": 30104,  # INPUT_INVALID_ARGUMENT (bad/id): no usable id, so named
        shown_id("folder/bad\\xff.txt"): 30104,  # by its source and item (escaped)
    }
    assert failed[blob]["run_id"] == summary["run_id"] and failed["missing"]["source"] == "csv"

    # Fixed and imported again: the refusal is replaced by the input.
    (d / "blob.bin").write_text("now text")
    invoke("import", "folder", str(d), "--json", code=1)  # the bad name still fails
    assert invoke("inputs", "status", "--json")["errors"] == 3


def test_versions_diff_says_which_run_added_each_input(cli: Runtime, tmp_path: Path) -> None:
    a = folder(tmp_path / "a", {"one.txt": "one", "two.txt": "two"})
    b = folder(tmp_path / "b", {"three.txt": "three"})
    first = invoke("import", "folder", str(a), "-d", "set", "--json")
    invoke("datasets", "versions", "create", "set", "--id", "v1", "--json")
    second = invoke("import", "folder", str(b), "-d", "set", "--json")
    invoke("datasets", "versions", "create", "set", "--id", "v2", "--json")

    diff = invoke("versions", "diff", "v1", "v2", "--by", "run", "--json")
    assert diff["inputs_added"] == 1 and diff["added_by"] == {second["run_id"]: 1}
    [added] = diff["inputs_added_lineage"]
    assert added["id"] == input_id_for(b.resolve(), "three.txt")
    assert added["run_id"] == second["run_id"] and added["source"] == "folder"
    everything = invoke("versions", "diff", "v1", "v2", "--by", "source", "--json")
    assert everything["added_by"] == {"folder": 1}
    assert second["run_id"] in invoke("versions", "diff", "v1", "v2", "--by", "run")
    assert first["run_id"] != second["run_id"]
    assert "--by must be one of" in invoke("versions", "diff", "v1", "v2", "--by", "x", code=1)


def test_a_chunk_shows_its_parent_and_the_run_that_brought_it(
    cli: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGESTD_LIMITS__TEXT_BYTES", "2000")
    d = folder(tmp_path / "t", {"long.txt": "a sentence of a long text. " * 400})
    summary = invoke("import", "folder", str(d), "--json")
    parent = input_id_for(d.resolve(), "long.txt")
    chunks = cli.catalog.chunks.chunks_of("me", "main", parent)
    assert len(chunks) >= 2
    lineage = invoke("inputs", "get", chunks[0]["id"], "--json")["lineage"]
    assert lineage["parent_input_id"] == parent
    assert lineage["run_id"] == summary["run_id"]
    assert lineage["source_uri"] == (d.resolve() / "long.txt").as_posix()
    assert f"parent_input_id: {parent}" in invoke("inputs", "get", chunks[0]["id"])
