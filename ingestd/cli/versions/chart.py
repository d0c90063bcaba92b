"""The versions chart: a dataset's size over its ready versions, by annotation and input type."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.snapshot.metrics import ANNOTATION_TYPES
from pipeline.snapshot.ports import VersionRow

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_versions(dataset_id: str, versions: list[VersionRow], out: Path) -> Path:
    """Stacked bars per version (oldest first): annotation types on top, input types below."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers
    import matplotlib.pyplot as plt

    labels = [_label(v) for v in versions]
    by_annotation = {
        label: [int((v.metrics or {}).get(field, 0)) for v in versions]
        for field, label in ANNOTATION_TYPES.items()
    }
    input_types = sorted({k for v in versions for k in (v.metrics or {}).get("input_types", {})})
    by_input = {
        kind: [int((v.metrics or {}).get("input_types", {}).get(kind, 0)) for v in versions]
        for kind in input_types
    }
    width = max(8.0, 1.1 * len(versions) + 4)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(width, 8), sharex=True)
    _stack(top, labels, by_annotation, "annotations by type")
    _stack(bottom, labels, by_input, "inputs by type")
    bottom.set_xlabel("dataset version (oldest first)")
    fig.suptitle(f"dataset {dataset_id}: {len(versions)} version(s)")
    if len(versions) > 6:  # long runs of versions: slant the labels so they do not collide
        plt.setp(bottom.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _stack(ax: Axes, labels: list[str], series: dict[str, list[int]], title: str) -> None:
    x = list(range(len(labels)))
    base = [0] * len(labels)
    for name, values in series.items():
        if not any(values):
            continue  # keep the legend to what this dataset has
        ax.bar(x, values, bottom=base, label=name)
        base = [b + n for b, n in zip(base, values, strict=True)]
    for xi, total in zip(x, base, strict=True):
        ax.annotate(str(total), (xi, total), ha="center", va="bottom", fontsize=8)
    ax.set_title(title)
    ax.set_ylabel("count")
    ax.set_xticks(x, labels)
    if any(any(v) for v in series.values()):
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_ylim(0, max(base + [1]) * 1.15)  # room for the totals above the bars


def _label(v: VersionRow) -> str:
    when = v.created_at.strftime("%Y-%m-%d %H:%M") if v.created_at else ""
    return f"{v.id[:12]}\n{when}"
