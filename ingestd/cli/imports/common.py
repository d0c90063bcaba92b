"""What `ingestd import folder` and `import csv` share: options, the run, the summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer

from connectors.importers.items import ImportItem, parse_metadata_option, read_report_keys
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
    ConflictResolution.SKIP,
    "--conflict",
    help="When an input id exists with other content: SKIP it or SUFFIX the new id.",
)
ReportOpt = typer.Option(
    None, "--report", help="Where to write failed items as JSON lines (default: .ingestd/reports/)."
)
RetryOpt = typer.Option(
    None,
    "--retry-failed",
    help="Redo only the items listed in this failure report.",
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
    conflict: ConflictResolution = ConflictOpt
    report: Path | None = ReportOpt
    retry_failed: Path | None = RetryOpt
    as_json: bool = JsonOpt
    timeout: float | None = TimeoutOpt

    def parsed(self) -> tuple[dict, set[str] | None]:
        """(metadata, keys to retry or None); a bad option fails the command."""
        return common_args(self.metadata, self.retry_failed, self.dataset)

    def run(self, items: ItemSource, total: int, source: str) -> None:
        datasets = self.dataset or []
        run_import(
            items, total, source, datasets, self.conflict, self.report, self.as_json, self.timeout
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
) -> None:
    with open_runtime() as rt:
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
    write_report(summary, report or Path(".ingestd/reports") / f"{source}-{stamp}.jsonl")
    if as_json:
        emit_json(summary.to_dict())
    else:
        print_summary(summary)
    if summary.failed:
        raise typer.Exit(1)


def print_summary(summary: ImportSummary) -> None:
    rate = summary.total / summary.seconds if summary.seconds else 0.0
    console.print(
        f"[bold]{summary.source} import:[/] {summary.total} items in {summary.requests} requests, "
        f"{summary.seconds:.1f}s ({rate:.0f}/s)"
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
