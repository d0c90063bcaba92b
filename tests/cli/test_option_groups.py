"""@grouped: options declared once as a dataclass, taken by a command as one object."""

from __future__ import annotations

from dataclasses import dataclass

import typer
from typer.testing import CliRunner

from ingestd.cli.option_groups import grouped


@dataclass
class Window:
    start: int = typer.Option(0, "--start", help="First item.")
    labels: list[str] | None = typer.Option(None, "--label", help="Repeatable.")


app = typer.Typer()
seen: list[tuple[str, Window, bool]] = []


@app.command()
@grouped(window=Window)
def show(name: str, *, window: Window, loud: bool = typer.Option(False, "--loud")) -> None:
    seen.append((name, window, loud))


def test_the_group_is_built_from_its_options_and_the_rest_pass_as_given() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["x", "--start", "3", "--label", "a", "--label", "b", "--loud"])
    assert result.exit_code == 0, result.output
    assert seen[-1] == ("x", Window(start=3, labels=["a", "b"]), True)
    assert runner.invoke(app, ["y"]).exit_code == 0
    assert seen[-1] == ("y", Window(start=0, labels=None), False)
    assert runner.invoke(app, ["z", "--start", "many"]).exit_code == 2  # typed as the field


def test_help_lists_the_group_options_where_the_parameter_stood() -> None:
    text = CliRunner().invoke(app, ["--help"]).output
    assert text.index("--start") < text.index("--label") < text.index("--loud")
