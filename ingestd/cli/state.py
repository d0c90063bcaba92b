"""Settings for this CLI invocation: environment first, then global flags on top."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from connectors.catalog import SqlCatalog
from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from ingestd.cli.option_groups import Page
from ingestd.cli.options import found

T = TypeVar("T", covariant=True)

_overrides: dict[str, Any] = {}


def set_overrides(**values: Any) -> None:
    """Flags of this invocation replace those of any earlier one (tests run many)."""
    _overrides.clear()
    _overrides.update({k: v for k, v in values.items() if v is not None})


def settings() -> Settings:
    """Environment and secret files (INGESTD_SECRETS_DIR), this invocation's flags on top."""
    return Settings.load(**_overrides)


class AppFacet(Protocol[T]):
    """A catalog facet that finds one thing of an app by id."""

    def get(self, user_id: str, app_id: str, item_id: str, /) -> T | None: ...


def get_or_fail(
    facet: Callable[[SqlCatalog], AppFacet[T]], item_id: str, missing: str
) -> tuple[T, Settings]:
    """Item `item_id` of this invocation's app from the catalog's `facet`, with the settings
    that name the app; when there is none, `fail` with `missing`."""
    with open_runtime() as rt:
        item = facet(rt.catalog).get(rt.settings.user_id, rt.settings.app_id, item_id)
    return found(item, missing), rt.settings


class AppPage(Protocol[T]):
    """A catalog method that lists an app's things in id order, a page at a time."""

    def __call__(
        self, user_id: str, app_id: str, /, *, after_id: str, limit: int
    ) -> Sequence[T]: ...


def app_page(
    lister: Callable[[SqlCatalog], AppPage[T]], paging: Page
) -> tuple[Sequence[T], Settings]:
    """The page `paging` asks for of this invocation's app's things from the catalog's
    `lister`, with the settings that name the app."""
    with open_runtime() as rt:
        s = rt.settings
        items = lister(rt.catalog)(s.user_id, s.app_id, after_id=paging.after, limit=paging.limit)
    return items, s


def open_runtime() -> Runtime:
    try:
        return Runtime.open(settings())
    except Exception as exc:
        from ingestd.cli.options import fail

        fail(f"cannot open ingestd storage: {exc}")
        raise
