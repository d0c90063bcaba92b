"""`ingestd import csv` end to end: URLs through the fetch guard, text, files, bad rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingestd.app.runtime import Runtime
from ingestd.cli import app
from tests.support.storage import image_bytes, use_storage
from tests.support.web import serving_folder

runner = CliRunner()


@pytest.fixture
def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A web server on 127.0.0.1 with two images, which the CLI is allowed to fetch from."""
    monkeypatch.setenv("INGESTD_FETCH_ALLOW", '["127.0.0.1"]')
    root = tmp_path / "www"
    root.mkdir()
    (root / "cat.jpg").write_bytes(image_bytes(color="orange"))
    (root / "big.png").write_bytes(image_bytes("PNG", (64, 64)))
    with serving_folder(root) as url:
        yield url


def test_csv_import_with_urls_text_and_bad_rows(
    tmp_path, web, monkeypatch, embedded: Runtime
) -> None:
    use_storage(monkeypatch, embedded.settings)
    monkeypatch.chdir(tmp_path)
    rows = [
        ("cat", f"{web}/cat.jpg", "1", ""),
        ("missing", f"{web}/nope.jpg", "1", ""),
        ("metadata-svc", "http://169.254.169.254/latest/meta-data/x.jpg", "1", ""),
        ("closed-port", "http://127.0.0.1:9/x.jpg", "1", ""),
        ("ftp", "ftp://example.com/x.jpg", "1", ""),
        ("caption", "", "", '{"lang": "en"}'),
        ("bad-value", f"{web}/cat.jpg", "7", ""),
    ]
    path = tmp_path / "in.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "input.id",
                "input.data.image.url",
                "input.data.text.raw",
                "input.data.concepts[0].id",
                "input.data.concepts[0].value",
                "input.data.metadata",
            ]
        )
        for input_id, url, value, meta in rows:
            text = "a caption" if not url else ""
            w.writerow([input_id, url, text, "cat" if value else "", value, meta])
    result = runner.invoke(app, ["import", "csv", str(path), "--dataset", "web", "--json"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    by_id = {f["input_id"]: f["status"] for f in summary["failures"]}
    assert by_id == {
        "missing": "INPUT_DOES_NOT_EXIST",
        "metadata-svc": "INPUT_INVALID_URL",
        "closed-port": "INPUT_CONNECTION_FAILED",
        "ftp": "INPUT_INVALID_URL",
        "bad-value": "INPUT_INVALID_ARGUMENT",
    }
    assert summary["actions"]["created"] == 2
    cat = embedded.catalog.get_input("me", "main", "cat")
    assert cat is not None and cat["source_url"] == f"{web}/cat.jpg" and cat["format"] == "JPEG"
    assert cat["dataset_ids"] == ["web"]
    caption = embedded.catalog.get_input("me", "main", "caption")
    assert caption is not None and caption["metadata"] == {"lang": "en"}

    again = json.loads(runner.invoke(app, ["import", "csv", str(path), "--json"]).stdout)
    assert again["actions"].get("created", 0) == 0 and again["actions"]["unchanged"] == 2


def test_local_files_outside_the_csv_folder_need_base_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedded: Runtime
) -> None:
    use_storage(monkeypatch, embedded.settings)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "cat.jpg").write_bytes(image_bytes(color="orange"))
    (tmp_path / "csvs").mkdir()
    path = tmp_path / "csvs" / "in.csv"
    path.write_text("inputid,input\ncat,../media/cat.jpg\nenv,/proc/self/environ\n")

    first = runner.invoke(app, ["import", "csv", str(path), "--json"])
    assert first.exit_code == 1
    codes = {f["input_id"]: f["status"] for f in json.loads(first.stdout)["failures"]}
    assert codes == {"cat": "INPUT_PERMISSION_DENIED", "env": "INPUT_PERMISSION_DENIED"}

    wider = runner.invoke(app, ["import", "csv", str(path), "--base-dir", str(tmp_path), "--json"])
    summary = json.loads(wider.stdout)
    # `cat` was recorded as refused by the first run: storing it now updates that record
    assert summary["actions"] == {"updated": 1, "failed": 1}
    assert embedded.catalog.get_input("me", "main", "cat") is not None
    env = embedded.catalog.get_input("me", "main", "env")  # refused: recorded, nothing read
    assert env is not None and env["status_code"] == 30103 and env["blob_key"] is None


def test_a_header_of_a_million_columns_is_refused_with_its_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedded: Runtime
) -> None:
    use_storage(monkeypatch, embedded.settings)
    path = tmp_path / "wide.csv"
    path.write_text(",".join("c" for _ in range(1_000_000)) + "\n1\n")
    result = runner.invoke(app, ["import", "csv", str(path)])
    assert result.exit_code == 1
    assert "39999" in result.output and "header" in result.output


def test_credentials_in_a_url_are_never_stored_or_printed(
    tmp_path, web, monkeypatch, embedded: Runtime
) -> None:
    use_storage(monkeypatch, embedded.settings)
    monkeypatch.chdir(tmp_path)
    host = web.removeprefix("http://")
    signed = "X-Amz-Credential=AKIDSECRET&X-Amz-Date=20240101&X-Amz-Signature=SIGSECRET"
    path = tmp_path / "in.csv"
    path.write_text(
        "inputid,input\n"
        f"cred,http://alice:PWSECRET@{host}/cat.jpg?{signed}\n"
        f"tok,{web}/big.png?token=TOKSECRET&size=2\n"
        f"gone,http://alice:PWSECRET@{host}/nope.jpg?sig=SIGSECRET\n"
    )
    result = runner.invoke(app, ["import", "csv", str(path), "--json"])
    summary = json.loads(result.stdout)
    assert summary["actions"] == {"created": 2, "failed": 1}, summary
    cred = embedded.catalog.get_input("me", "main", "cred")
    tok = embedded.catalog.get_input("me", "main", "tok")
    assert cred is not None and tok is not None
    assert cred["source_url"] == f"{web}/cat.jpg?X-Amz-Date=20240101"
    assert tok["source_url"] == f"{web}/big.png?size=2"
    # The lineage keeps the URL of the cell as stored: no credentials either.
    assert (cred["source_uri"], tok["source_uri"]) == (cred["source_url"], tok["source_url"])
    gone = embedded.catalog.get_input("me", "main", "gone")
    assert gone is not None and gone["source_uri"] == f"{web}/nope.jpg"
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != path)
    for secret in (b"PWSECRET", b"AKIDSECRET", b"SIGSECRET", b"TOKSECRET"):
        assert secret not in stored and secret.decode() not in result.stdout
