"""Options that several commands take, declared once as a dataclass.

A group is a dataclass whose field defaults are `typer.Option`s. `@grouped(name=Group)`
puts the group's fields among the command's options in place of its parameter `name`, and
hands the command one `Group` built from what was given.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])
_KEYWORD = inspect.Parameter.KEYWORD_ONLY  # Typer calls commands with keywords only


def grouped(**groups: type) -> Callable[[F], F]:
    """Replace each parameter named in `groups` by the options of its dataclass."""

    def decorate(command: F) -> F:
        hints = typing.get_type_hints(command)
        params: list[inspect.Parameter] = []
        fields: dict[str, list[str]] = {}
        for param in inspect.signature(command).parameters.values():
            group = groups.get(param.name)
            if group is None:
                params.append(param.replace(annotation=hints.get(param.name, param.annotation)))
                continue
            group_hints = typing.get_type_hints(group)
            fields[param.name] = [f.name for f in dataclasses.fields(group)]
            for f in dataclasses.fields(group):
                params.append(
                    inspect.Parameter(
                        f.name, _KEYWORD, default=f.default, annotation=group_hints[f.name]
                    )
                )

        @functools.wraps(command)
        def run(**given: Any) -> Any:
            for name, names in fields.items():
                given[name] = groups[name](**{n: given.pop(n) for n in names})
            return command(**given)

        run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [p.replace(kind=_KEYWORD) for p in params],
            return_annotation=hints.get("return", None),
        )
        run.__annotations__ = {p.name: p.annotation for p in params}
        return typing.cast(F, run)

    return decorate


class Page(Protocol):
    """Where a list command's page starts and how long it is."""

    limit: int
    after: str


def page_options(noun: str, max_limit: int, after: str = "id") -> type:
    """The `--limit` and `--after` group of a list command that shows NOUN a page at a time."""
    return dataclasses.make_dataclass(
        "PageOptions",
        [
            (
                "limit",
                int,
                typer.Option(50, "--limit", min=1, max=max_limit, help=f"{noun} per page."),
            ),
            (
                "after",
                str,
                typer.Option("", "--after", help=f"Start after this {after} (next page)."),
            ),
        ],
    )
