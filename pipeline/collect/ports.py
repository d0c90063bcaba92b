"""What the collect stage needs from the catalog, as a protocol (connectors implement it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.collect.collectors import Collector
from pipeline.keys import ApiKey


@dataclass
class CollectorSnapshot:
    collectors: list[tuple[str, str, Collector]]
    """(user id, app id, collector) of every app."""
    keys: dict[str, ApiKey] = field(default_factory=dict)
    workflows: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    """(user id, app id, workflow id) -> the workflow document."""


class CollectCatalog(Protocol):
    """Every app's collectors, keys and workflows, read in one go."""

    def snapshot(self) -> CollectorSnapshot: ...
