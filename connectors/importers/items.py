"""What an importer yields: one item per file or row, either an Input or the reason it is not.

Listers are generators, so a folder of a million files or a CSV of a million rows never
sits in memory (STYLE.md #8).
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.errors import InputError
from pipeline.models import Input
from pipeline.status import StatusCode


@dataclass
class ImportItem:
    """`key` names the item in reports and `--retry-failed` (a relative path, `file.csv:12`)."""

    key: str
    input: Input | None = None
    size: int = 0
    error: InputError | None = None
    input_id_hint: str | None = None

    @classmethod
    def failed(
        cls, key: str, code: StatusCode, message: str, input_id: str | None = None
    ) -> ImportItem:
        return cls(key=key, error=InputError(code, message), input_id_hint=input_id)

    @property
    def input_id(self) -> str | None:
        return self.input.id if self.input is not None else self.input_id_hint


def item_or_failure(key: str, input_id: str | None, build: Callable[[], ImportItem]) -> ImportItem:
    """`build()`, or the item failed with its code when the input is invalid.

    Any validation error of one item (an empty file, a bad concept id) is that item's
    failure: raised out of a lister it would end the whole import.
    """
    try:
        return build()
    except InputError as exc:
        return ImportItem.failed(key, exc.code, exc.message, input_id)
    except ValidationError as exc:
        return ImportItem.failed(key, StatusCode.INPUT_INVALID_ARGUMENT, explain(exc), input_id)


def explain(exc: ValidationError) -> str:
    """The first error of a ValidationError as a person reads it: `Concept.id 'x': ...`."""
    first = exc.errors()[0]
    where = ".".join([exc.title, *(str(p) for p in first["loc"])])
    bad = first.get("input")
    shown = f" {_show(str(bad))}" if isinstance(bad, str | int | float) else ""
    return f"{where}{shown}: {first['msg']}"


def _show(value: str, width: int = 60) -> str:
    return repr(value if len(value) <= width else value[: width - 3] + "...")


def parse_metadata_option(text: str | None) -> dict[str, Any]:
    """`--metadata '{"k": "v"}'`: a JSON object, or a clear error."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--metadata is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"--metadata must be a JSON object, got {type(value).__name__}")
    return value


REPORT_LINE_LIMIT = 1024 * 1024  # a report line is one failure: a key and a message


def read_report_keys(report: Path) -> set[str]:
    """The item keys of a failure report written by an earlier run."""
    # A device or FIFO (/dev/zero, a pipe) would be read forever or block: regular files only.
    if not stat.S_ISREG(report.stat().st_mode):
        raise ValueError(f"{report} is not a regular file, so not a failure report")
    keys: set[str] = set()
    with report.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(iter(lambda: fh.readline(REPORT_LINE_LIMIT + 1), ""), 1):
            if len(line) > REPORT_LINE_LIMIT:
                raise ValueError(
                    f"{report}:{n} is longer than {REPORT_LINE_LIMIT} characters, so not a "
                    "failure-report line"
                )
            if not line.strip():
                continue
            try:
                keys.add(json.loads(line)["item"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{report}:{n} is not a failure-report line: {exc}") from exc
    return keys
