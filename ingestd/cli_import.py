"""`ingestd import folder|csv`: bulk imports with a progress bar, a summary and a failure report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connectors.importers.folder import count_files, iter_folder_items
from connectors.importers.items import ImportItem, parse_metadata_option, read_report_keys
from connectors.importers.runner import ImportOptions, ImportRun, ImportSummary, write_report
from ingestd.output import console, emit_json, fail, table
from ingestd.state import open_runtime
from pipeline.ids import check_id
from pipeline.models import ConflictResolution

app = typer.Typer(
    help="Import inputs in bulk from a folder, a CSV file or an S3 prefix.", no_args_is_help=True
)

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
JsonOpt = typer.Option(False, "--json", help="Print the summary as JSON.")
TimeoutOpt = typer.Option(
    None,
    "--timeout",
    help="Give up waiting for the stages after this many seconds (Kafka mode: "
    "are workers running?).",
)


@app.command("folder")
def import_folder(
    path: Path = typer.Argument(
        ..., help="Folder to import, recursively.", exists=True, file_okay=False
    ),
    labels: bool = typer.Option(
        False, "--labels", help="Use each file's folder name as a concept."
    ),
    dataset: list[str] | None = DatasetOpt,
    metadata: str | None = MetadataOpt,
    conflict: ConflictResolution = ConflictOpt,
    report: Path | None = ReportOpt,
    retry_failed: Path | None = RetryOpt,
    as_json: bool = JsonOpt,
    timeout: float | None = TimeoutOpt,
) -> None:
    """Import every file under PATH; the type of each comes from its content and extension."""
    meta, keys = _common_args(metadata, retry_failed, dataset)
    total = len(keys) if keys is not None else count_files(path)
    items = iter_folder_items(path, labels=labels, metadata=meta, keys=keys)
    _run(items, total, "folder", dataset or [], conflict, report, as_json, timeout)


@app.command("csv")
def import_csv(
    path: Path = typer.Argument(
        ...,
        help="CSV or TSV file: the platform template or inputid,input,concepts,metadata,geopoints.",
        exists=True,
        dir_okay=False,
    ),
    input_type: str = typer.Option(
        "auto", "--type", help="auto, image, video, audio or text: how to read the input column."
    ),
    base_dir: Path | None = typer.Option(
        None,
        "--base-dir",
        help="Folder that local file paths in the CSV are read from (default: the CSV's "
        "folder); paths leading outside it are refused.",
        exists=True,
        file_okay=False,
    ),
    dataset: list[str] | None = DatasetOpt,
    metadata: str | None = MetadataOpt,
    conflict: ConflictResolution = ConflictOpt,
    report: Path | None = ReportOpt,
    retry_failed: Path | None = RetryOpt,
    as_json: bool = JsonOpt,
    timeout: float | None = TimeoutOpt,
) -> None:
    """Import the rows of a CSV file: URLs, raw text or local file paths, with concepts."""
    from connectors.importers.csv_rows import iter_csv_items

    if input_type not in {"auto", "image", "video", "audio", "text"}:
        fail(f"--type must be auto, image, video, audio or text, not {input_type!r}")
    meta, keys = _common_args(metadata, retry_failed, dataset)
    with path.open("rb") as fh:
        rows = max(0, sum(1 for _ in fh) - 1)
    total = len(keys) if keys is not None else rows
    try:
        items = iter_csv_items(
            path, input_type=input_type, metadata=meta, keys=keys, base_dir=base_dir
        )
        first = next(items, None)  # the header is checked on the first step: fail early
    except ValueError as exc:
        fail(str(exc))
        return
    _run(_chain(first, items), total, "csv", dataset or [], conflict, report, as_json, timeout)


def _chain(first: ImportItem | None, rest: Iterator[ImportItem]) -> Iterator[ImportItem]:
    if first is not None:
        yield first
        yield from rest


def _common_args(
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


def _run(
    items: Iterator[ImportItem],
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
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as bar:
            task = bar.add_task(f"importing {source}", total=total or None)
            run = ImportRun(rt.submit, rt.catalog, options, progress=lambda n: bar.advance(task, n))
            try:
                summary = run.run(items, timeout=timeout)
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
        table(
            "failed items",
            ["item", "code", "message"],
            [
                (f["item"], f"{f['code']} {f['status']}", f["message"])
                for f in summary.failures[:20]
            ],
        )
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
