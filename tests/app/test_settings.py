"""Settings: environment, secret files, and secrets never printed."""

from __future__ import annotations

import json
import logging

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
