"""Every command takes --json, and under --json every error is one JSON object on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from ingestd.cli import app

runner = CliRunner()


def _leaves(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every runnable command of the tree, walked from the Typer app (new ones included)."""
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        return [(path, command)]
    return [leaf for name, sub in subcommands.items() for leaf in _leaves(sub, (*path, name))]


LEAVES = _leaves(typer.main.get_command(app))
PATHS = [path for path, _ in LEAVES]


def _dummy_args(command: Any) -> list[str]:
    """A value for each required argument and option, so the command gets past parsing."""
    args: list[str] = []
    for param in command.params:
        if not param.required:
            continue
        if param.param_type_name == "option":
            args += [param.opts[0], "x"]
        else:
            args.append("x")
    return args


def _status(stdout: str) -> dict[str, Any]:
    body = json.loads(stdout)
    assert set(body) == {"status"}, body
    status = body["status"]
    assert isinstance(status["code"], int) and status["code"] >= 10000
    assert status["description"].isupper() and status["details"]
    return status


def test_the_walk_finds_the_whole_tree() -> None:
    assert len(PATHS) > 40
    assert {("version",), ("concepts", "relate"), ("datasets", "filter", "set")} <= set(PATHS)


def test_every_command_takes_json() -> None:
    without = [
        " ".join(path)
        for path, command in LEAVES
        if not any("--json" in p.opts for p in command.params)
    ]
    assert without == []


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_usage_error_under_json_is_a_json_status(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--json", "--no-such-option"])
    assert result.exit_code != 0
    status = _status(result.stdout)
    assert status["code"] == 11100 and "--no-such-option" in status["details"]


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_failure_under_json_is_a_json_status(
    path: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With storage that cannot open and placeholder arguments, each command either fails
    with a JSON status and a non-zero exit, or (needing no storage) prints JSON and exits 0."""
    monkeypatch.chdir(tmp_path)
    command = dict(LEAVES)[path]
    args = ["--catalog", "nosuch://nowhere", *path, *_dummy_args(command), "--json"]
    result = runner.invoke(app, args, input="n\n")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    if result.exit_code == 0:
        json.loads(result.stdout)
    else:
        _status(result.stdout)


def test_errors_keep_their_status_code_under_json(tmp_path: Path) -> None:
    catalog = f"sqlite:///{tmp_path}/catalog.db"
    unknown_event = runner.invoke(app, ["schema", "NoSuchEvent", "--json"])
    assert unknown_event.exit_code == 1
    assert "NoSuchEvent" in _status(unknown_event.stdout)["details"]
    bad_relation = runner.invoke(app, ["concepts", "relate", "a", "b", "-t", "zz", "--json"])
    assert _status(bad_relation.stdout)["description"] == "CONCEPTS_INVALID_REQUEST"
    missing = runner.invoke(app, ["--catalog", catalog, "inputs", "get", "nope", "--json"])
    assert missing.exit_code == 1
    status = _status(missing.stdout)
    assert status["description"] == "INPUT_DOES_NOT_EXIST"
    assert status["details"] == "no input 'nope'"
    related = runner.invoke(app, ["--catalog", catalog, "concepts", "relate", "a", "b", "--json"])
    assert json.loads(related.stdout) == {
        "subject": "a",
        "predicate": "synonym",
        "object": "b",
        "added": True,
    }
    version = runner.invoke(app, ["version", "--json"])
    assert set(json.loads(version.stdout)) == {"version"}


def test_without_json_errors_stay_text() -> None:
    result = runner.invoke(app, ["schema", "NoSuchEvent"])
    assert result.exit_code == 1 and result.stdout == ""
    assert "error:" in result.stderr and "NoSuchEvent" in result.stderr


def test_credentials_typed_into_urls_are_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    monkeypatch.setenv("INGESTD_S3_ACCESS_KEY_ID", "AKIDX")
    monkeypatch.setenv("INGESTD_S3_SECRET_ACCESS_KEY", "Pw7Zq-A")
    monkeypatch.setenv("INGESTD_S3_ENDPOINT_URL", "http://u:Pw7Zq-B@127.0.0.1:1")
    monkeypatch.setenv("INGESTD_BROKER", "kafka://u:Pw7Zq-C@127.0.0.1:1")
    monkeypatch.setenv("INGESTD_BLOBS", "s3://bkt/p")
    outputs = [
        runner.invoke(app, ["settings", "--json"]).stdout,
        runner.invoke(app, ["settings"]).output,
        # the endpoint's connection error quotes the URL it was given
        runner.invoke(app, ["import", "folder", "d", "--json"]).stdout,
        runner.invoke(app, ["--blobs", "s3://AK:Pw7Zq-D@bkt/p", "inputs", "list"]).output,
        runner.invoke(app, ["import", "s3", "s3://AK:Pw7Zq-E@bkt/x", "--json"]).stdout,
    ]
    for out in outputs:
        assert out and "Pw7Zq" not in out, out
    assert "holds credentials" in outputs[3] and "holds credentials" in outputs[4]
    assert "cannot open ingestd storage" in outputs[2]


@pytest.mark.parametrize(
    ("command", "description", "details"),
    [
        (["collectors", "get"], "COLLECTOR_MISSING", "no collector 'nope'"),
        (["collectors", "update", "--description", "d"], "COLLECTOR_MISSING", "'nope'"),
        (["workflows", "get"], "WORKFLOW_DOES_NOT_EXIST", "no workflow 'nope'"),
        (["jobs", "get"], "CONN_INVALID_REQUEST", "no extraction job 'nope' in this app"),
        (["jobs", "cancel"], "CONN_INVALID_REQUEST", "no extraction job 'nope' in this app"),
        (["datasets", "versions", "get"], "CONN_DOES_NOT_EXIST", "no dataset version 'nope'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_a_missing_item_is_a_json_status_that_names_it(
    command: list[str], description: str, details: str, tmp_path: Path
) -> None:
    args = ["--catalog", f"sqlite:///{tmp_path}/catalog.db", *command, "nope", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    status = _status(result.stdout)
    assert status["description"] == description and details in status["details"]
