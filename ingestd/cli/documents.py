"""Reading JSON or YAML documents given on the command line (workflows, collectors, patches).

YAML anchors and aliases are refused: a few lines of them can expand into gigabytes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024


class DocumentError(ValueError):
    """The document cannot be read or parsed; the message says where and why."""


def load_document(source: str) -> Any:
    """Parse FILE (or - for stdin) as JSON, or as YAML when it is not JSON."""
    try:
        text = sys.stdin.read(MAX_BYTES + 1) if source == "-" else _read(Path(source))
    except OSError as exc:
        raise DocumentError(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(text) > MAX_BYTES:
        raise DocumentError(f"{source} is larger than {MAX_BYTES} bytes")
    return parse_document(text, source)


def parse_document(text: str, where: str = "document") -> Any:
    if where.endswith(".json") or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError as exc:
            if where.endswith(".json"):
                raise DocumentError(f"{where} is not valid JSON: {exc}") from None
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise DocumentError(f"{where}: YAML anchors and aliases are not accepted")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DocumentError(f"{where} is neither JSON nor YAML: {exc}") from None


def _read(path: Path) -> str:
    with path.open("r", encoding="utf-8") as handle:
        return handle.read(MAX_BYTES + 1)
