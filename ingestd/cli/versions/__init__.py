"""`ingestd versions export|diff|plot`: what to do with ready dataset versions."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import typer

from ingestd.app.runtime import Runtime
from ingestd.cli.datasets.version_view import load_version
from ingestd.cli.options import JsonOpt, console, emit_json, fail, status_text, table
from ingestd.cli.state import open_runtime
from pipeline.snapshot.diff import diff_manifests
from pipeline.snapshot.export import export_version, normalize_format
from pipeline.snapshot.manifest import version_prefix
from pipeline.snapshot.ports import VersionRow
from pipeline.snapshot.stage import READY
from pipeline.status import StatusCode

# `versions diff --by`: the lineage column each grouping reads.
BY = {"run": "run_id", "collector": "collector_id", "job": "job_id", "source": "source"}

app = typer.Typer(
    help="Export, compare and chart dataset versions (create them with "
    "`ingestd datasets versions create`).",
    no_args_is_help=True,
)


def _ready(rt: Runtime, version_id: str) -> VersionRow:
    row = load_version(rt, version_id)
    if row.status_code != READY or not row.manifest_key or not row.content_hash:
        fail(
            f"{status_text(row.status_code)}: version {version_id!r} is not ready"
            + (f" ({row.status_message})" if row.status_message else "")
        )
    return row


def _manifest(rt: Runtime, row: VersionRow, path: Path) -> None:
    try:
        rt.blobs.download(row.manifest_key or "", path)
    except Exception as exc:  # missing object, unreadable store: say which and where
        fail(
            f"cannot read the manifest of version {row.id!r} ({row.manifest_key}) from "
            f"{rt.blobs.describe()}: {type(exc).__name__}: {exc}"
        )


@app.command("export")
def export(
    version_id: str,
    fmt: str = typer.Option(..., "--format", "-f", help="coco (detection/segmentation) or json."),
    media: bool = typer.Option(True, "--media/--no-media", help="Put the media files in the zip."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also download the zip to this file."
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even if this export exists."),
    as_json: bool = JsonOpt,
) -> None:
    """Zip a ready version as COCO or JSON into the blob store (built from its manifest)."""
    try:
        chosen = normalize_format(fmt)
    except ValueError as exc:
        fail(str(exc))
        raise
    with open_runtime() as rt:
        s = rt.settings
        row = _ready(rt, version_id)
        info = row.export_info.get(chosen)
        reuse = (
            not force
            and info is not None
            and info.get("include_media") == media
            and info.get("status", {}).get("code") == int(StatusCode.DATA_DUMP_EXPORT_SUCCESS)
            and rt.blobs.exists(info["url"])
        )
        if not reuse:
            with (
                console.status(f"exporting {version_id} as {chosen}", spinner="dots"),
                tempfile.TemporaryDirectory(prefix="ingestd-export-") as tmp,
            ):
                manifest = Path(tmp) / "manifest.jsonl"
                _manifest(rt, row, manifest)
                prefix = version_prefix(s.user_id, s.app_id, row.dataset_id, row.id)
                version = row.to_dict()
                version.pop("export_info")
                info = export_version(
                    chosen, manifest, version, rt.blobs, prefix, Path(tmp), include_media=media
                )
            rt.catalog.versions.record_export(s.user_id, s.app_id, version_id, chosen, info)
        assert info is not None
        ok = info["status"]["code"] == int(StatusCode.DATA_DUMP_EXPORT_SUCCESS)
        if ok and output is not None:
            rt.blobs.download(info["url"], output)
    if as_json:
        emit_json({"version_id": version_id, **info, "reused": reuse})
    else:
        console.print(f"[bold]{chosen} export of {version_id}[/]: {info['status']['description']}")
        if ok:
            console.print(f"  {info['url']} ({info['size']} bytes){' (existing)' if reuse else ''}")
            if output is not None:
                console.print(f"  downloaded to {output}")
            for what, n in sorted((info.get("skipped") or {}).items()):
                console.print(f"  [yellow]left out[/]: {n} {what} (no {chosen} form)")
    if not ok:
        fail(f"{info['status']['code']} DATA_DUMP_EXPORT_FAILED: {info['status']['description']}")


@app.command("diff")
def diff(
    version_a: str = typer.Argument(..., help="The older version (A)."),
    version_b: str = typer.Argument(..., help="The newer version (B)."),
    limit: int = typer.Option(10, "--limit", min=0, max=1000, help="Example ids shown per kind."),
    by: str | None = typer.Option(
        None,
        "--by",
        help="Also count the inputs added by what added them: run (import run), collector, "
        "job (extraction job) or source (its kind: folder, csv, s3, collector, api).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """What changed from A to B: inputs added/removed, data and annotations changed."""
    if by is not None and by not in BY:
        fail(f"--by must be one of {', '.join(BY)}, not {by!r}")
    with open_runtime() as rt:
        user_id, app_id = rt.settings.user_id, rt.settings.app_id
        a, b = _ready(rt, version_a), _ready(rt, version_b)

        def group(ids: list[str]) -> list[str]:
            found = rt.catalog.lineage.of(user_id, app_id, ids)
            return [(found.get(i) or {}).get(BY[by or "run"]) or "(unknown)" for i in ids]

        with tempfile.TemporaryDirectory(prefix="ingestd-diff-") as tmp:
            pa, pb = Path(tmp) / "a.jsonl", Path(tmp) / "b.jsonl"
            _manifest(rt, a, pa)
            _manifest(rt, b, pb)
            result = diff_manifests(pa, pb, sample_size=limit, group=group if by else None)
        sampled = result.samples.get("inputs_added", [])
        lineage = rt.catalog.lineage.of(user_id, app_id, sampled) if by else {}
    if as_json:
        out = {"a": version_a, "b": version_b, **result.to_dict()}
        if by:  # the examples of inputs added, with where each came from
            out.update(
                by=by, inputs_added_lineage=[{"id": i, **lineage.get(i, {})} for i in sampled]
            )
        emit_json(out)
        return
    same = " (identical content)" if a.content_hash == b.content_hash else ""
    console.print(f"[bold]{version_a} → {version_b}[/]{same}")
    table(
        "changes",
        ["what", "count", "examples"],
        [
            (kind, getattr(result, kind), ", ".join(result.samples.get(kind, [])))
            for kind in (
                "inputs_added",
                "inputs_removed",
                "inputs_data_changed",
                "inputs_annotations_changed",
                "inputs_unchanged",
                "annotations_added",
                "annotations_removed",
                "annotations_modified",
            )
        ],
    )
    if by:
        rows = sorted(result.added_by.items(), key=lambda kv: (-kv[1], kv[0]))
        table(f"inputs added, by {by}", [by, "inputs"], rows)


@app.command("plot")
def plot(
    dataset_id: str,
    output: Path = typer.Option(Path("versions.png"), "--output", "-o", help="PNG file to write."),
    as_json: bool = JsonOpt,
) -> None:
    """Chart a dataset's size over its ready versions, by annotation type and by input type."""
    from ingestd.cli.versions.chart import plot_versions

    with open_runtime() as rt:
        s = rt.settings
        rows = rt.catalog.versions.list_versions(s.user_id, s.app_id, dataset_id)
    ready = [r for r in rows if r.status_code == READY and r.metrics]
    if not ready:
        fail(f"dataset {dataset_id!r} has no ready version to plot ({len(rows)} in all)")
    if output.suffix.lower() != ".png":
        fail(f"--output must be a .png file, not {output}")
    with tempfile.TemporaryDirectory(prefix="ingestd-plot-") as tmp:
        drawn = plot_versions(dataset_id, ready, Path(tmp) / "plot.png")
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(drawn), output)
    if as_json:
        emit_json({"dataset_id": dataset_id, "versions": [r.id for r in ready], "png": str(output)})
    else:
        console.print(f"wrote {output}: {len(ready)} ready version(s) of dataset {dataset_id}")
