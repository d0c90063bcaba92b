"""What `ingestd import folder` and `import csv` share: options, the run, the summary."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from connectors.importers.items import (
    ImportItem,
    parse_metadata_option,
    read_report,
    read_report_keys,
    reuse_options,
)
from connectors.importers.runner import ImportOptions, ImportRun, ImportSummary, write_report
from connectors.importers.staging import FileStager
from ingestd.cli.options import (
    console,
    emit_json,
    fail,
    failures_table,
    json_option,
    progress_bar,
    table,
)
from ingestd.cli.state import open_runtime
from pipeline.ids import check_id
from pipeline.models import ConflictResolution

DatasetOpt = typer.Option(
    None, "--dataset", "-d", help="Dataset id to add every input to (repeatable)."
)
MetadataOpt = typer.Option(
    None,
    "--metadata",
    help="JSON object merged into every input's metadata, e.g. '{\"batch\": 3}'.",
)
ConflictOpt = typer.Option(
    None,
    "--conflict",
    help="When an input id exists with other content: SKIP it (default) or SUFFIX the new id.",
    show_default=False,
)
ReportOpt = typer.Option(
    None, "--report", help="Where to write failed items as JSON lines (default: .ingestd/reports/)."
)
RetryOpt = typer.Option(
    None,
    "--retry-failed",
    help="Redo only the items listed in this failure report, with the options of the run "
    "that wrote it (an option given here must agree with them).",
    exists=True,
    dir_okay=False,
)
JsonOpt = json_option("Print the summary as JSON.")
TimeoutOpt = typer.Option(
    None,
    "--timeout",
    help="Give up waiting for the stages after this many seconds (Kafka mode: "
    "are workers running?).",
)


# The items of an import, given what stages large local files in the blob store.
ItemSource = Callable[[FileStager], Iterator[ImportItem]]


@dataclass
class ImportArgs:
    """The options of every local import (a command takes them with `@grouped(...)`)."""

    dataset: list[str] | None = DatasetOpt
    metadata: str | None = MetadataOpt
    conflict: ConflictResolution | None = ConflictOpt
    report: Path | None = ReportOpt
    retry_failed: Path | None = RetryOpt
    as_json: bool = JsonOpt
    timeout: float | None = TimeoutOpt

    def __post_init__(self) -> None:
        self._run: dict[str, Any] | None = None  # what the failure report records
        self._own: dict[str, Any] = {}

    def parsed(
        self, source: str | None = None, target: str | None = None, **own: tuple[Any, Any]
    ) -> tuple[dict, set[str] | None]:
        """(metadata, keys to retry or None); a bad option fails the command.

        Given the import's `source` and `target` (its folder or file) and the command's own
        options (`name=(value or None when not given, default)`, read back with `option`),
        the run's options are recorded in its failure report, and a `--retry-failed` run
        takes those of the run it retries (a contradicting option fails the command).
        """
        meta, keys = common_args(self.metadata, self.retry_failed, self.dataset)
        if source is None:
            return meta, keys
        given: dict[str, Any] = {
            "dataset": self.dataset,
            "metadata": meta if self.metadata else None,
            "conflict": self.conflict.value if self.conflict else None,
            **{name: value for name, (value, _) in own.items()},
        }
        try:
            recorded = read_report(self.retry_failed)[1] if self.retry_failed else None
            chosen = reuse_options(given, recorded, source, target)
        except ValueError as exc:
            fail(str(exc))
            raise
        defaults = {"dataset": [], "metadata": {}, "conflict": ConflictResolution.SKIP.value}
        defaults.update({name: default for name, (_, default) in own.items()})
        chosen = {k: defaults[k] if v is None else v for k, v in chosen.items()}
        self.dataset, self.conflict = chosen["dataset"], ConflictResolution(chosen["conflict"])
        self._own = {name: chosen[name] for name in own}
        self._run = {"source": source, "target": target, "options": chosen}
        if recorded is not None and recorded.get("run_id"):
            self._run["retry_of"] = recorded["run_id"]
        return chosen["metadata"], keys

    def option(self, name: str) -> Any:
        """A command's own option as `parsed` resolved it."""
        return self._own[name]

    def run(self, items: ItemSource, total: int, source: str) -> None:
        datasets = self.dataset or []
        conflict = self.conflict or ConflictResolution.SKIP
        run_import(
            items,
            total,
            source,
            datasets,
            conflict,
            self.report,
            self.as_json,
            self.timeout,
            run_record=self._run,
        )


def common_args(
    metadata: str | None, retry_failed: Path | None, datasets: list[str] | None
) -> tuple[dict, set[str] | None]:
    try:
        meta = parse_metadata_option(metadata)
        keys = read_report_keys(retry_failed) if retry_failed else None
        for dataset_id in datasets or []:
            check_id(dataset_id, "dataset id")
    except Exception as exc:  # ValueError, InputError: a bad option, said plainly
        fail(str(exc))
        raise
    return meta, keys


def run_import(
    items: ItemSource,
    total: int,
    source: str,
    datasets: list[str],
    conflict: ConflictResolution,
    report: Path | None,
    as_json: bool,
    timeout: float | None = None,
    run_record: dict[str, Any] | None = None,
) -> None:
    """Run an import to its end; `run_record` (source, target, options) goes in the report."""
    with open_runtime() as rt, startup_frozen():
        options = ImportOptions(
            user_id=rt.settings.user_id,
            app_id=rt.settings.app_id,
            dataset_ids=datasets,
            conflict_resolution=conflict,
            source=source,
            limits=rt.settings.limits,
        )
        # Items are made here, with the runtime's blob store for large files (a bad CSV
        # header fails on the first one, before any progress is shown).
        stream = items(FileStager(rt.blobs, options.user_id, options.app_id))
        with progress_bar(disable=as_json) as bar:
            task = bar.add_task(f"importing {source}", total=total or None)
            run = ImportRun(rt.submit, rt.catalog, options, progress=lambda n: bar.advance(task, n))
            try:
                summary = run.run(stream, timeout=timeout)
            except TimeoutError as exc:
                fail(str(exc))
                raise
        if not rt.kafka_mode:
            rt.bus.join()  # the media stage finishes what the ingest stage left pending
        run.refresh_pending(
            lambda ids: rt.catalog.input_statuses(options.user_id, options.app_id, ids)
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    recorded = {**(run_record or {}), "run_id": summary.run_id}
    path = report or Path(".ingestd/reports") / f"{source}-{stamp}.jsonl"
    write_report(summary, path, recorded)
    if as_json:
        emit_json(summary.to_dict())
    else:
        print_summary(summary)
    if summary.failed:
        raise typer.Exit(1)


@contextmanager
def startup_frozen() -> Iterator[None]:
    """The objects made before the import (modules, schemas, the runtime) are not garbage:
    frozen, the collector's full passes skip them. An import makes tens of objects per
    input and per annotation, so full passes come often; walking the ~100,000 startup
    objects each time was a fifth of a COCO import's CPU. Unfrozen after, for in-process
    callers (tests) that go on."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def print_summary(summary: ImportSummary) -> None:
    rate = summary.total / summary.seconds if summary.seconds else 0.0
    console.print(
        f"[bold]{summary.source} import[/] run [bold]{summary.run_id}[/]: {summary.total} items "
        f"in {summary.requests} requests, {summary.seconds:.1f}s ({rate:.0f}/s)"
    )
    table("outcome", ["action", "count"], sorted(summary.actions.items()))
    if summary.failures:
        failures_table(summary.failures)
        more = len(summary.failures) - 20
        if more > 0:
            console.print(f"... and {more} more")
    if summary.skipped:
        console.print(
            f"[yellow]{len(summary.skipped)} skipped[/] (id exists with other content; "
            "--conflict SUFFIX keeps both)"
        )
    if summary.report:
        console.print(
            f"failures written to {summary.report}; redo them with --retry-failed {summary.report}"
        )
