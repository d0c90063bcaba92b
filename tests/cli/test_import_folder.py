"""`ingestd import folder` end to end on the embedded default and on S3 + PostgreSQL."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from connectors.importers.folder import input_id_for
from ingestd.app.runtime import Runtime
from ingestd.cli import app
from tests.support.media import video_bytes
from tests.support.storage import image_bytes, make_settings, use_storage

runner = CliRunner()


def make_folder(root: Path) -> None:
    (root / "cats").mkdir(parents=True)
    (root / "dogs" / "puppies").mkdir(parents=True)
    (root / "cats" / "a.jpg").write_bytes(image_bytes(color="red"))
    (root / "cats" / "b.png").write_bytes(image_bytes("PNG", color="blue"))
    (root / "dogs" / "c.webp").write_bytes(image_bytes("WEBP", color="green"))
    (root / "dogs" / "puppies" / "d.gif").write_bytes(image_bytes("GIF"))
    (root / "dogs" / "notes.txt").write_text("good dogs\n")
    (root / "cats" / "broken.jpg").write_bytes(image_bytes()[:40])
    (root / "cats" / "fake.png").write_bytes(b"this is text pretending to be a PNG")
    (root / "dogs" / "blob.bin").write_bytes(b"\x00\x01\x02\x03" * 10)
    (root / ".hidden.jpg").write_bytes(image_bytes())


def env_for(settings) -> dict[str, str]:
    env = {
        "INGESTD_CATALOG": settings.catalog,
        "INGESTD_BLOBS": settings.blobs,
    }
    if settings.s3_endpoint_url:
        env.update(
            INGESTD_S3_ENDPOINT_URL=settings.s3_endpoint_url,
            INGESTD_S3_ACCESS_KEY_ID="testing",
            INGESTD_S3_SECRET_ACCESS_KEY="testing",
        )
    return env


@pytest.mark.parametrize("combo", ["sqlite-local", "postgres-s3"])
def test_folder_import_stores_good_reports_bad_and_reruns_add_nothing(
    combo: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog, blobs = combo.split("-")
    settings = make_settings(tmp_path, catalog, blobs, request)
    for key, value in env_for(settings).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data"
    make_folder(folder)
    report = tmp_path / "report.jsonl"

    def import_pets(*more: str) -> Result:
        """The folder with labels, into dataset pets with metadata batch 1, as JSON."""
        args = ["--labels", "--dataset", "pets", "--metadata", '{"batch": 1}', *more, "--json"]
        return runner.invoke(app, ["import", "folder", str(folder), *args])

    first = import_pets("--report", str(report))
    assert first.exit_code == 1, first.output  # some items failed
    summary = json.loads(first.stdout)
    assert summary["actions"] == {"created": 5, "failed": 3}
    failures = {f["item"]: f["status"] for f in summary["failures"]}
    assert failures == {
        "cats/broken.jpg": "INPUT_FAILED",
        "cats/fake.png": "INPUT_UNSUPPORTED_FORMAT",
        "dogs/blob.bin": "INPUT_UNSUPPORTED_FORMAT",
    }
    lines = [json.loads(x) for x in report.read_text().splitlines()]
    assert sorted(x["item"] for x in lines) == sorted(failures)

    with Runtime.open(settings) as rt:
        stored = {r["id"]: r for r in rt.catalog.list_inputs("me", "main", dataset_id="pets")}
        assert set(stored) == {
            input_id_for(folder.resolve(), p)
            for p in (
                "cats/a.jpg",
                "cats/b.png",
                "dogs/c.webp",
                "dogs/puppies/d.gif",
                "dogs/notes.txt",
            )
        }
        a = stored[input_id_for(folder.resolve(), "cats/a.jpg")]
        assert [c["id"] for c in a["concepts"]] == ["cats"]
        assert a["metadata"] == {"batch": 1}
        puppy = stored[input_id_for(folder.resolve(), "dogs/puppies/d.gif")]
        assert puppy["concepts"][0]["id"] == "puppies"
        assert stored[input_id_for(folder.resolve(), "dogs/notes.txt")]["media_type"] == "text"
        blob_count = len(list(rt.blobs.keys("media/")))
    assert blob_count == 5

    second = import_pets()
    again = json.loads(second.stdout)
    assert again["actions"] == {"unchanged": 5, "failed": 3}
    with Runtime.open(settings) as rt:
        # broken.jpg, fake.png failed in the ingest stage; blob.bin, refused by the importer
        # before it, is recorded as failed too (with its code)
        failed = rt.catalog.list_inputs("me", "main", limit=1000, failed_only=True)
        assert {r["id"]: r["status_code"] for r in failed} == {
            input_id_for(folder.resolve(), "cats/broken.jpg"): 30002,
            input_id_for(folder.resolve(), "cats/fake.png"): 30101,
            input_id_for(folder.resolve(), "dogs/blob.bin"): 30101,
        }
        assert len(rt.catalog.list_inputs("me", "main", limit=1000)) == 5 + 3
        assert len(list(rt.blobs.keys("media/"))) == blob_count

    # Fix one file and redo only the failures.
    (folder / "cats" / "broken.jpg").write_bytes(image_bytes(color="yellow"))
    retry = import_pets("--retry-failed", str(report))
    redone = json.loads(retry.stdout)
    assert redone["total"] == 3
    assert redone["actions"] == {"updated": 1, "failed": 2}

    status = runner.invoke(app, ["inputs", "status", "--json"])
    assert json.loads(status.stdout) == {
        "processed": 6,
        "to_process": 0,
        "processing": 0,
        "errors": 2,
    }


def test_bad_options_are_refused_plainly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    result = runner.invoke(app, ["import", "folder", "d", "--metadata", "[1, 2]"])
    assert result.exit_code == 1
    assert "--metadata must be a JSON object" in result.output
    result = runner.invoke(app, ["import", "folder", "d", "--dataset", "a/b"])
    assert result.exit_code == 1 and "dataset id" in result.output


def cli_env(monkeypatch: pytest.MonkeyPatch, rt: Runtime, tmp_path: Path) -> None:
    use_storage(monkeypatch, rt.settings)
    monkeypatch.chdir(tmp_path)


def write_files(folder: Path, files: dict[str, bytes | str]) -> Path:
    """`folder`, made, with `files` (name: bytes, or text) written in it."""
    folder.mkdir()
    for name, content in files.items():
        if isinstance(content, str):
            (folder / name).write_text(content)
        else:
            (folder / name).write_bytes(content)
    return folder


def import_json(folder: Path, *extra: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["import", "folder", str(folder), "--json", *extra])
    return result.exit_code, json.loads(result.stdout)


def test_links_out_special_files_and_empty_files_fail_alone_and_the_rest_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedded: Runtime
) -> None:
    cli_env(monkeypatch, embedded, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET outside the folder")
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "0-empty.txt").write_bytes(b"")  # sorted first: the files after it must still go in
    (d / "1-empty.jpg").write_bytes(b"")
    (d / "2-empty.mp4").write_bytes(b"")
    (d / "a.jpg").write_bytes(image_bytes())
    (d / "note.txt").write_text("hello from inside")
    (d / "p.txt").symlink_to("/etc/passwd")
    (d / "s.txt").symlink_to(outside / "secret.txt")
    (d / "up.txt").symlink_to("../outside/secret.txt")
    (d / "env.txt").symlink_to("/proc/self/environ")
    (d / "null.jpg").symlink_to("/dev/null")
    (d / "sub" / "again.txt").symlink_to("../note.txt")  # a link that stays inside is fine
    os.mkfifo(d / "pipe.txt")
    (d / "z.png").write_bytes(image_bytes("PNG", color="blue"))

    code, summary = import_json(d)
    assert code == 1
    assert summary["actions"] == {"created": 4, "failed": 9}
    assert {f["item"]: f["status"] for f in summary["failures"]} == {
        "0-empty.txt": "INPUT_INVALID_ARGUMENT",
        "1-empty.jpg": "INPUT_INVALID_ARGUMENT",
        "2-empty.mp4": "INPUT_VIDEO_INVALID_ARGUMENT",
        "p.txt": "INPUT_PERMISSION_DENIED",
        "s.txt": "INPUT_PERMISSION_DENIED",
        "up.txt": "INPUT_PERMISSION_DENIED",
        "env.txt": "INPUT_PERMISSION_DENIED",
        "null.jpg": "INPUT_PERMISSION_DENIED",
        "pipe.txt": "INPUT_INVALID_ARGUMENT",
    }
    messages = {f["item"]: f["message"] for f in summary["failures"]}
    assert "outside" in messages["s.txt"] and "empty" in messages["0-empty.txt"]
    stored = {r["id"] for r in embedded.catalog.list_inputs("me", "main", limit=100)}
    good = ("a.jpg", "note.txt", "sub/again.txt", "z.png")
    assert {input_id_for(d.resolve(), p) for p in good} <= stored
    blobs = [p.read_bytes() for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert blobs and not any(b"TOP SECRET" in b or b"root:" in b for b in blobs)


def test_two_videos_in_a_folder_go_in_two_requests_and_are_both_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedded: Runtime
) -> None:
    cli_env(monkeypatch, embedded, tmp_path)
    d = write_files(
        tmp_path / "v",
        {
            "a.mp4": video_bytes(seconds=1.0, size="64x48"),
            "b.mp4": video_bytes(seconds=1.0, size="80x60"),
            "c.jpg": image_bytes(),
        },
    )
    code, summary = import_json(d)
    assert code == 0, summary
    assert summary["actions"] == {"created": 3}
    # One request per shard of input ids here (the video limit within a shard is in
    # tests/pipeline/test_shard_batches.py).
    assert summary["requests"] == 3


def test_summary_reports_what_the_media_stage_made_of_an_oversized_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedded: Runtime
) -> None:
    cli_env(monkeypatch, embedded, tmp_path)
    monkeypatch.setenv("INGESTD_LIMITS__TEXT_BYTES", "2000")
    long_text = "a sentence of a long text. " * 400
    d = write_files(tmp_path / "t", {"long.txt": long_text, "short.txt": "short"})
    code, summary = import_json(d)
    assert code == 0, summary
    assert summary["codes"] == {"30000 INPUT_SUCCESS": 2}
    row = embedded.catalog.get_input("me", "main", input_id_for(d.resolve(), "long.txt"))
    assert row is not None and row["status_code"] == 30000


def test_odd_names_and_deep_folders_fail_alone_and_the_rest_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedded: Runtime
) -> None:
    cli_env(monkeypatch, embedded, tmp_path)
    d = write_files(tmp_path / "d", {"a.txt": "plain", "new\nline.txt": "a newline in the name"})
    bad = os.fsencode(d) + b"/bad\xff\xfe.txt"  # not UTF-8: crashed the whole import
    with open(bad, "wb") as fh:
        fh.write(b"latin-1 name")
    # 2100 levels: past Python's recursion limit (os.walk recursed) and, near the bottom,
    # past PATH_MAX, where a folder cannot be listed and must be reported, not dropped.
    fd = os.open(d, os.O_RDONLY)
    for level in range(2100):  # relative to a descriptor: the full path is too long to name
        os.mkdir("n", dir_fd=fd)
        fd, parent = os.open("n", os.O_RDONLY, dir_fd=fd), fd
        os.close(parent)
        if level == 1400:
            with open(os.open("mid.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as fh:
                fh.write("deep but readable")
    os.close(fd)
    mid = "n/" * 1401 + "mid.txt"
    try:
        code, summary = import_json(d)
        assert code == 1
        assert summary["actions"] == {"created": 3, "failed": 2}, summary
        failures = {f["item"]: f for f in summary["failures"]}
        assert failures["bad\\xff\\xfe.txt"]["status"] == "INPUT_INVALID_ARGUMENT"
        assert "not valid UTF-8" in failures["bad\\xff\\xfe.txt"]["message"]
        (unlisted,) = (f for k, f in failures.items() if k.startswith("n/n/"))
        assert "cannot list folder" in unlisted["message"]
        stored = {r["id"] for r in embedded.catalog.list_inputs("me", "main", limit=100)}
        assert {input_id_for(d.resolve(), p) for p in ("a.txt", "new\nline.txt", mid)} <= stored
    finally:
        remove_chain(d, 2100, {1400: "mid.txt"})  # pytest's rmtree recurses too


def remove_chain(top: Path, depth: int, files: dict[int, str]) -> None:
    fds = [os.open(top, os.O_RDONLY)]
    for _ in range(depth):
        fds.append(os.open("n", os.O_RDONLY, dir_fd=fds[-1]))
    for level in range(depth - 1, -1, -1):
        fd = fds.pop()
        if level in files:
            os.unlink(files[level], dir_fd=fd)
        os.close(fd)
        os.rmdir("n", dir_fd=fds[-1])
    os.close(fds[0])


@pytest.mark.parametrize("report", ["/dev/zero", "fifo", "one-long-line"])
def test_a_retry_report_that_never_ends_is_refused_plainly(
    report: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    if report == "fifo":
        os.mkfifo(tmp_path / "fifo")  # opening it would wait for a writer forever
    elif report == "one-long-line":
        (tmp_path / report).write_text('{"item": "' + "x" * (2 * 1024 * 1024))
    result = runner.invoke(app, ["import", "folder", "d", "--json", "--retry-failed", report])
    assert result.exit_code == 1
    details = json.loads(result.stdout)["status"]["details"]
    assert "not a regular file" in details or "longer than" in details
