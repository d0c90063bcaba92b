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

from pydantic import TypeAdapter, ValidationError

from pipeline.errors import InputError
from pipeline.models import Annotation, Input, Lineage
from pipeline.status import StatusCode

_ANNOTATIONS = TypeAdapter(list[Annotation])


@dataclass
class ImportItem:
    """`key` names the item in reports and `--retry-failed` (a relative path, `file.csv:12`);
    `source_uri` is where it was read from (a file path, a URL), kept as its lineage."""

    key: str
    input: Input | None = None
    size: int = 0
    error: InputError | None = None
    input_id_hint: str | None = None
    source_uri: str | None = None
    annotations_json: bytes | None = None
    """The input's annotations as JSON, parsed into it only when its request is built: a
    parsed box holds ~4.5 KB in ~25 objects the garbage collector walks, and the batcher
    holds up to a request's bytes of items (a COCO image has ten annotations or more)."""

    @classmethod
    def failed(
        cls,
        key: str,
        code: StatusCode,
        message: str,
        input_id: str | None = None,
        source_uri: str | None = None,
    ) -> ImportItem:
        return cls(
            key=key, error=InputError(code, message), input_id_hint=input_id, source_uri=source_uri
        )

    @property
    def input_id(self) -> str | None:
        return self.input.id if self.input is not None else self.input_id_hint

    def lineage(self) -> Lineage | None:
        """Where the item came from, as its input carries it to the catalog."""
        return Lineage(source_uri=self.source_uri) if self.source_uri else None

    def request_input(self) -> Input:
        """The input to send: with where it came from (unless its lister said already) and
        its annotations parsed; InputError (24155) when they do not parse."""
        assert self.input is not None
        update: dict[str, Any] = {}
        lineage = self.lineage()
        if self.input.lineage is None and lineage is not None:
            update["lineage"] = lineage
        if self.annotations_json is not None:
            try:
                update["annotations"] = _ANNOTATIONS.validate_json(self.annotations_json)
            except ValidationError as exc:
                raise InputError(StatusCode.ANNOTATION_INVALID_ARGUMENT, explain(exc)) from None
        return self.input.model_copy(update=update) if update else self.input


def item_or_failure(
    key: str, input_id: str | None, build: Callable[[], ImportItem], source_uri: str | None = None
) -> ImportItem:
    """`build()`, or the item failed with its code when the input is invalid.

    Any validation error of one item (an empty file, a bad concept id) is that item's
    failure: raised out of a lister it would end the whole import.
    """
    try:
        return build()
    except InputError as exc:
        return ImportItem.failed(key, exc.code, exc.message, input_id, source_uri)
    except ValidationError as exc:
        code = StatusCode.INPUT_INVALID_ARGUMENT
        return ImportItem.failed(key, code, explain(exc), input_id, source_uri)


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
    return read_report(report)[0]


def read_report(report: Path) -> tuple[set[str], dict[str, Any] | None]:
    """(item keys, the run the report records: its id, source and options, or None for a
    report written before runs were recorded)."""
    # A device or FIFO (/dev/zero, a pipe) would be read forever or block: regular files only.
    if not stat.S_ISREG(report.stat().st_mode):
        raise ValueError(f"{report} is not a regular file, so not a failure report")
    keys: set[str] = set()
    run: dict[str, Any] | None = None
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
                entry = json.loads(line)
                keys.add(entry["item"])
                if run is None and isinstance(entry.get("run"), dict):
                    run = entry["run"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{report}:{n} is not a failure-report line: {exc}") from exc
    return keys, run


def reuse_options(
    given: dict[str, Any],
    run: dict[str, Any] | None,
    source: str,
    target: str | None,
) -> dict[str, Any]:
    """The options of a retry: each one the retried run recorded, unless given here.

    `given` maps option names to values, None when not given. One given with a value other
    than the recorded one is an error rather than a silent change half-way through a run
    (the retried items would be labelled, filed or resolved unlike the rest of the run).
    """
    if run is None:
        return dict(given)
    if run.get("source") != source:
        raise ValueError(f"the report is of a {run.get('source')} import, not {source}")
    if target is not None and run.get("target") not in (None, target):
        raise ValueError(
            f"the report is of an import of {run['target']}, not {target}: retry with that one"
        )
    recorded = run.get("options") or {}
    chosen = {}
    for name, value in given.items():
        old = recorded.get(name)
        if value is None or name not in recorded:
            chosen[name] = value if value is not None else old
        elif _canonical_option(value) != _canonical_option(old):
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"{flag} {json.dumps(value)} contradicts the run being retried "
                f"({run.get('run_id')}), which used {json.dumps(old)}: drop {flag} to retry "
                "with the recorded options, or start a new import without --retry-failed"
            )
        else:
            chosen[name] = value
    return chosen


def _canonical_option(value: Any) -> Any:
    return sorted(set(value)) if isinstance(value, list) else value
