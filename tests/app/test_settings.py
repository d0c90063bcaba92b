"""Settings: environment, secret files, and secrets never printed."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from ingestd.app.settings import Settings
from ingestd.cli import app

runner = CliRunner()


def test_secrets_come_from_files_and_never_show(tmp_path, monkeypatch, caplog) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "ingestd_s3_secret_access_key").write_text("s3-very-secret")
    (secrets / "ingestd_catalog_password").write_text("pg-very-secret")
    monkeypatch.setenv("INGESTD_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("INGESTD_CATALOG", "postgresql+psycopg://ingestd@db:5432/ingestd")
    monkeypatch.setenv("INGESTD_LIMITS__IMAGE_PIXELS", "1000")
    with caplog.at_level(logging.DEBUG):
        result = runner.invoke(app, ["settings", "--json"])
        human = runner.invoke(app, ["settings"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["s3_secret_access_key"] == "**********"
    assert shown["catalog_password"] == "**********"
    assert shown["limits"]["image_pixels"] == 1000
    for text in (result.output, human.output, caplog.text):
        assert "very-secret" not in text


def test_catalog_url_gets_the_password_only_when_connecting() -> None:
    s = Settings(
        catalog="postgresql+psycopg://ingestd@db:5432/ingestd",
        catalog_password="p@ss:word",  # type: ignore[arg-type]
    )
    assert "p%40ss%3Aword" in s.catalog_url()
    assert "p@ss" not in json.dumps(s.redacted())
    plain = Settings(catalog="postgresql+psycopg://u:hunter2@db/x")
    assert plain.redacted()["catalog"] == "postgresql+psycopg://u:***@db/x"


def test_source_credentials_are_settings_from_env_or_files_and_stay_masked(
    tmp_path, monkeypatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "ingestd_source_secret_access_key").write_text("src-very-secret")
    monkeypatch.setenv("INGESTD_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("INGESTD_SOURCE_ACCESS_KEY_ID", "src-key")
    monkeypatch.setenv("INGESTD_SOURCE_SESSION_TOKEN", "tok-very-secret")
    monkeypatch.setenv("INGESTD_SOURCE_ENDPOINT_URL", "http://minio:9000")
    loaded = Settings.load()
    source = loaded.source_s3()
    assert source.secret_access_key is not None
    assert source.secret_access_key.get_secret_value() == "src-very-secret"
    assert source.endpoint_url == "http://minio:9000" and source.region is None
    # Flags win; an empty value is no value (boto3's chain), not an empty key.
    flagged = loaded.source_s3(endpoint_url="http://other:9000", access_key_id="", region=None)
    assert flagged.endpoint_url == "http://other:9000" and flagged.access_key_id is None

    shown = runner.invoke(app, ["settings", "--json"])
    human = runner.invoke(app, ["settings"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["source_secret_access_key"] == data["source_session_token"] == "**********"
    assert data["source_endpoint_url"] == "http://minio:9000"
    for text in (shown.output, human.output, repr(loaded), str(source)):
        assert "very-secret" not in text


def test_no_ingestd_variable_is_read_around_the_settings() -> None:
    root = Path(__file__).resolve().parents[2]
    reads = re.compile(r"os\.environ|getenv\(|envvar=")
    found = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("ingestd", "connectors", "streams", "pipeline")
        for path in sorted((root / folder).rglob("*.py"))
        if path != root / "ingestd" / "app" / "settings.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if reads.search(line)
    ]
    assert found == []


def test_settings_are_frozen_once_loaded() -> None:
    s = Settings()
    for change in (
        lambda: setattr(s, "user_id", "other"),
        lambda: setattr(s, "limits", s.limits.model_copy(update={"batch_inputs": 1})),
        lambda: setattr(s.limits, "batch_inputs", 1),
        lambda: setattr(s.dropzone, "poll_interval", 0.0),
        lambda: setattr(s.dropzone.archives, "max_members", 1),
    ):
        with pytest.raises(ValidationError, match="frozen"):
            change()
    # A different run is a new object; the original is untouched.
    quick = s.model_copy(update={"dropzone": s.dropzone.model_copy(update={"poll_interval": 0})})
    assert quick.dropzone.poll_interval == 0 and s.dropzone.poll_interval == 10.0
