"""`ingestd gc`: remove the blobs nothing references any more. Safe at any time, also while
imports and snapshots run.

A media blob (`media/...`) is live while an input row, a ready version's manifest or a
replayable dead letter names it; a version's blobs (`versions/<user>/<app>/<dataset>/<version>/`)
while the version has a row. Other prefixes are never touched. What keeps it safe:

- Only blobs older than the grace period go: an import writes (or rewrites) its blobs before
  it commits their rows, so a blob whose row is not committed yet is new.
- References are read again right before deleting, after checking that no snapshot is being
  built (a snapshot may have read an input that was deleted since; its manifest is not known
  until it is ready, so media wait for the next run).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from connectors.catalog.sql import SqlCatalog
from pipeline.ports import BlobStore
from pipeline.snapshot.manifest import read_manifest

MEDIA, VERSIONS = "media/", "versions/"
_PAGE = 1000


@dataclass
class GcReport:
    scanned: int = 0
    referenced: int = 0
    recent: int = 0  # unreferenced but younger than the grace period: kept for now
    removed: list[str] = field(default_factory=list)
    media_deferred: str = ""  # why media were left alone this run, if they were

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "removed_count": len(self.removed)}


@dataclass
class _Live:
    """What the catalog references, read lazily and refreshed before deleting."""

    catalog: SqlCatalog
    blobs: BlobStore
    manifests: set[str] = field(default_factory=set)  # ready manifests already read
    unreadable: str = ""
    manifest_media: set[str] = field(default_factory=set)
    dead_letters: set[str] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)

    def refresh(self) -> None:
        refs = self.catalog.blob_refs
        for manifest in refs.ready_manifests().values():
            if manifest in self.manifests:
                continue
            try:
                self.manifest_media.update(_manifest_media(self.blobs, manifest))
            except Exception as exc:  # unreadable: what it references is unknown, keep media
                self.unreadable = f"manifest {manifest} unreadable ({exc}); media kept"
                continue
            self.manifests.add(manifest)
        self.dead_letters = refs.dead_letter_keys()
        self.versions = refs.version_prefixes()

    def unreferenced(self, keys: list[str]) -> list[str]:
        media = [k for k in keys if k.startswith(MEDIA)]
        used = self.catalog.blob_refs.referenced_by_inputs(media) if media else set()
        return [k for k in keys if not self._live(k, used)]

    def _live(self, key: str, used: set[str]) -> bool:
        if key.startswith(MEDIA):
            return key in used or key in self.manifest_media or key in self.dead_letters
        return "/".join(key.split("/")[:5]) in self.versions


def collect_garbage(
    catalog: SqlCatalog,
    blobs: BlobStore,
    *,
    grace: timedelta,
    dry_run: bool = False,
    now: datetime | None = None,
) -> GcReport:
    """Remove (or with `dry_run` only list) blobs nothing references, older than `grace`."""
    cutoff = (now or datetime.now(UTC)) - grace
    report = GcReport()
    live = _Live(catalog, blobs)
    live.refresh()
    prefixes = [MEDIA, VERSIONS]
    running = catalog.blob_refs.snapshots_running_since(cutoff)
    if running:
        prefixes = [VERSIONS]
        report.media_deferred = (
            f"{running} dataset version(s) being built; media blobs are checked on the next run"
        )
    if live.unreadable:
        prefixes, report.media_deferred = [VERSIONS], live.unreadable
    candidates: list[str] = []
    for page in _pages(k for p in prefixes for k in blobs.keys(p)):
        report.scanned += len(page)
        loose = live.unreferenced(page)
        report.referenced += len(page) - len(loose)
        for key in loose:
            if _old(blobs, key, cutoff):
                candidates.append(key)
            else:
                report.recent += 1
    if MEDIA in prefixes and catalog.blob_refs.snapshots_running_since(cutoff):
        # A snapshot began while we looked: its manifest may name media we found loose.
        candidates = [k for k in candidates if not k.startswith(MEDIA)]
        report.media_deferred = "a dataset version began building; media are checked next run"
    live.refresh()  # versions that became ready, dead letters and versions added meanwhile
    if live.unreadable:
        candidates = [k for k in candidates if not k.startswith(MEDIA)]
        report.media_deferred = live.unreadable
    for page in _pages(candidates):
        loose = live.unreferenced(page)
        report.referenced += len(page) - len(loose)
        for key in loose:
            if not _old(blobs, key, cutoff):  # rewritten by an import since we listed it
                report.recent += 1
                continue
            if not dry_run:
                blobs.delete(key)
            report.removed.append(key)
    return report


def _old(blobs: BlobStore, key: str, cutoff: datetime) -> bool:
    when = blobs.modified(key)
    return when is not None and when < cutoff


def _manifest_media(blobs: BlobStore, manifest_key: str) -> set[str]:
    with tempfile.TemporaryDirectory(prefix="ingestd-gc-") as tmp:
        path = Path(tmp) / "manifest.jsonl"
        blobs.download(manifest_key, path)  # streamed: a manifest may be large
        return {
            key for line in read_manifest(path) if (key := line.get("data", {}).get("blob_key"))
        }


def _pages(keys: Iterable[str]) -> Iterator[list[str]]:
    it = iter(keys)
    while page := list(islice(it, _PAGE)):
        yield page
