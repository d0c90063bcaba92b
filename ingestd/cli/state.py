"""Settings for this CLI invocation: environment first, then global flags on top."""

from __future__ import annotations

from typing import Any

from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings

_overrides: dict[str, Any] = {}


def set_overrides(**values: Any) -> None:
    """Flags of this invocation replace those of any earlier one (tests run many)."""
    _overrides.clear()
    _overrides.update({k: v for k, v in values.items() if v is not None})


def settings() -> Settings:
    """Environment and secret files (INGESTD_SECRETS_DIR), this invocation's flags on top."""
    return Settings.load(**_overrides)


def open_runtime() -> Runtime:
    try:
        return Runtime.open(settings())
    except Exception as exc:
        from ingestd.cli.options import fail

        fail(f"cannot open ingestd storage: {exc}")
        raise
