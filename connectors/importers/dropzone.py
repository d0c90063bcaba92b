"""Read a drop zone: listed objects → ledger check → parallel reads → items, archives extracted.

Objects the ledger says are unchanged (same ETag, same template, input still there) are
not read at all. The rest are read ahead in parallel within a byte budget; archives go to
the job's extraction area and each member becomes an item. Everything here runs in the
caller's thread except the object reads.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.catalog.extraction_jobs import ExtractionJobCatalog, LedgerRow
from connectors.importers.archives import (
    CHUNK,
    ArchiveRefused,
    Stopped,
    archive_kind,
    archive_kind_by_name,
    detect_archive,
)
from connectors.importers.archives import extract_archive as extract
from connectors.importers.dropzone_config import DropZoneSettings
from connectors.importers.dropzone_items import (
    InputTemplate,
    ObjectItem,
    build_item,
    failed_item,
    input_id_for,
    origin_id,
    shown,
)
from connectors.importers.dropzone_ledger import (
    SUCCESS,
    JobLedger,
    JobProgress,
    stored_id,
    terminal,
)
from connectors.importers.prefetch import prefetch, read_ahead
from connectors.importers.s3_source import S3Location, S3Object, etag_of, list_pages
from pipeline.status import StatusCode


@dataclass
class _Fetched:
    etag: str
    data: bytes | None = None
    archive: Path | None = None
    kind: str | None = None


@dataclass
class DropZoneReader:
    client: Any
    where: S3Location
    template: InputTemplate
    jobs: ExtractionJobCatalog
    job_id: str
    user_id: str
    app_id: str
    config: DropZoneSettings
    progress: JobProgress
    area: Path
    stop: threading.Event
    tick: Callable[[], None] = lambda: None  # the caller's periodic work, in this thread
    force: bool = False
    max_key: str | None = None

    def __post_init__(self) -> None:
        self.template_fp = self.template.fingerprint()
        self.ledger = JobLedger(
            self.jobs,
            user_id=self.user_id,
            app_id=self.app_id,
            job_id=self.job_id,
            template_fp=self.template_fp,
            progress=self.progress,
        )

    # -- sources of objects -------------------------------------------------------------

    def listing_items(
        self, start_after: str | None = None, sweep: bool = False
    ) -> Generator[ObjectItem, None, None]:
        """Items of every object listed after `start_after`; `sweep` marks the ledger as seen."""
        pages = list_pages(
            self.client, self.where, start_after=start_after, page_size=self.config.page_size
        )
        # Listing and ledger look-ups run a page ahead, so reads never wait for a page.
        planned = read_ahead(self._plan(page, sweep) for page in pages)
        try:
            yield from self._read(pair for plan in planned for pair in plan)
        finally:
            planned.close()

    def object_items(self, objects: list[S3Object]) -> Generator[ObjectItem, None, None]:
        """Items of objects named by notifications (already looked up with HEAD)."""
        yield from self._read(self._plan(objects, sweep=False))

    # -- deciding what to read ----------------------------------------------------------

    def _plan(self, page: list[S3Object], sweep: bool) -> list[tuple[S3Object, LedgerRow | None]]:
        """The objects of a page to read, with what the ledger knows of them (a list: eager)."""
        ids = {origin_id(self.where.origin(o.key)): o for o in page}
        ledger = self.jobs.lookup(self.user_id, self.app_id, ids)
        stored = [
            r.input_id
            for r in ledger.values()
            if r.kind == "object" and r.input_id and r.status_code == SUCCESS
        ]
        live = self.jobs.live_inputs(self.user_id, self.app_id, stored)
        if sweep and ledger:
            self.jobs.mark_seen(self.user_id, self.app_id, list(ledger), datetime.now(UTC))
        wanted = [(obj, ledger.get(oid)) for oid, obj in ids.items()]
        todo = [(obj, prior) for obj, prior in wanted if not self._unchanged(obj, prior, live)]
        top = max(ids.values(), key=lambda o: o.key).key if ids else None
        if top is not None and (self.max_key is None or top > self.max_key):
            self.max_key = top
        unchanged = len(wanted) - len(todo)
        self.progress.add(
            listed_objects_count=len(wanted),
            unchanged_objects_count=unchanged,
            done_objects_count=unchanged,
        )
        return todo

    def _unchanged(self, obj: S3Object, prior: LedgerRow | None, live: set[str]) -> bool:
        if prior is None or self.force or prior.deleted_at is not None:
            return False
        if prior.etag != obj.etag or prior.template_fp != self.template_fp:
            return False
        if prior.status_code == SUCCESS:
            return prior.kind == "archive" or prior.input_id in live
        return terminal(prior.status_code)

    # -- reading ------------------------------------------------------------------------

    def _read(self, planned: Iterable[tuple[S3Object, LedgerRow | None]]) -> Iterator[ObjectItem]:
        results = prefetch(
            planned,
            self._fetch,
            concurrency=self.config.concurrency,
            budget=self.config.prefetch_bytes,
            weight=lambda pair: min(pair[0].size, self.config.prefetch_bytes),
        )
        try:
            for (obj, prior), got in results:
                self.tick()
                if self.stop.is_set():
                    return
                yield from self._items(obj, prior, got)
        finally:
            results.close()

    def _fetch(self, pair: tuple[S3Object, LedgerRow | None]) -> _Fetched | None:
        obj = pair[0]
        if self.stop.is_set() or obj.size > self.config.max_object_bytes:
            return None
        resp = self.client.get_object(Bucket=self.where.bucket, Key=obj.key)
        etag = etag_of(resp.get("ETag")) or obj.etag
        body = resp["Body"]
        head = body.read(512)
        if archive_kind(head) is None and archive_kind_by_name(obj.key) is None:
            return _Fetched(etag, data=head + body.read())
        # Maybe an archive: to the extraction area (zip needs to seek, and they may be large),
        # where a real attempt to open it decides.
        self.area.mkdir(parents=True, exist_ok=True)
        path = self.area / f"a-{uuid.uuid4().hex}"
        self.progress.add(pending_archives_count=1)
        try:
            with path.open("xb") as fh:
                fh.write(head)
                while chunk := body.read(CHUNK):
                    if self.stop.is_set():
                        raise Stopped()
                    fh.write(chunk)
            kind = detect_archive(obj.key, path)
            if kind is None:  # only looked like one: an ordinary object after all
                data = path.read_bytes()
                self.progress.add(pending_archives_count=-1)
                path.unlink()
                return _Fetched(etag, data=data)
        except BaseException:
            self.progress.add(pending_archives_count=-1)
            path.unlink(missing_ok=True)
            raise
        return _Fetched(etag, archive=path, kind=kind)

    def _base(self, key: str, etag: str, member: str | None = None) -> ObjectItem:
        origin = self.where.origin(key, member)
        return ObjectItem(
            key=shown(origin),
            input_id_hint=input_id_for(self.where.bucket, key, member),
            origin_id=origin_id(origin),
            origin=origin,
            bucket=self.where.bucket,
            object_key=key,
            member=member,
            etag=etag,
            kind="member" if member is not None else "object",
        )

    def _items(
        self, obj: S3Object, prior: LedgerRow | None, got: _Fetched | None | Exception
    ) -> Iterator[ObjectItem]:
        base = self._base(obj.key, obj.etag)
        if got is None and obj.size > self.config.max_object_bytes:
            yield failed_item(
                base,
                StatusCode.INPUT_OVER_LIMIT,
                f"{base.key} is {obj.size / 2**20:.0f} MB; objects over "
                f"{self.config.max_object_bytes / 2**20:.0f} MB "
                "(INGESTD_DROPZONE__MAX_OBJECT_BYTES) are not read",
            )
        elif got is None or isinstance(got, Stopped):
            return
        elif isinstance(got, Exception):
            code, message = read_failure(got)
            yield failed_item(base, code, f"{base.key}: {message}")
        elif got.archive is not None:
            base.etag = got.etag
            yield from self._archive_items(base, got)
        else:
            assert got.data is not None
            base.etag = got.etag
            yield build_item(base, got.data, self.template, replace_id=stored_id(prior, "object"))

    def _archive_items(self, base: ObjectItem, got: _Fetched) -> Iterator[ObjectItem]:
        assert got.archive is not None and got.kind is not None
        self.progress.add(pending_archives_count=-1, in_progress_archives_count=1)
        workdir = self.area / f"x-{uuid.uuid4().hex}"
        try:
            try:
                members = extract(
                    got.archive, got.kind, workdir, self.config.archives, self._stopping
                )
            finally:
                got.archive.unlink(missing_ok=True)
            parent = base.origin_id
            ids = [origin_id(self.where.origin(base.object_key, m.name)) for m in members]
            known = self.jobs.lookup(self.user_id, self.app_id, ids)
            self.ledger.archive_opened(base)
            for member, oid in zip(members, ids, strict=True):
                if self._stopping():
                    return
                item = self._base(base.object_key, base.etag, member.name)
                item.parent_id = parent
                self.ledger.member_added(parent)
                if member.size > self.config.max_object_bytes:
                    yield failed_item(
                        item,
                        StatusCode.INPUT_OVER_LIMIT,
                        f"{item.key} is {member.size / 2**20:.0f} MB; members over "
                        f"{self.config.max_object_bytes / 2**20:.0f} MB are not read",
                    )
                    continue
                nested = detect_archive(member.name, member.path) is not None
                data = member.path.read_bytes()
                member.path.unlink()  # the area holds only what is not yet an item
                replace_id = stored_id(known.get(oid), "member")
                yield build_item(
                    item, data, self.template, replace_id=replace_id, nested_archive=nested
                )
            self.ledger.archive_closed(parent)
        except ArchiveRefused as exc:
            base.kind = "archive"
            yield failed_item(base, exc.code, f"{base.key}: {exc.message}")
        except Stopped:
            return
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _stopping(self) -> bool:
        self.tick()
        return self.stop.is_set()


def read_failure(exc: Exception) -> tuple[StatusCode, str]:
    """The status code and message of an object that could not be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        if code in ("NoSuchKey", "404", "NotFound"):
            return StatusCode.INPUT_DOES_NOT_EXIST, "the object no longer exists"
        if code in ("AccessDenied", "403"):
            return StatusCode.INPUT_PERMISSION_DENIED, "access denied reading the object"
        return StatusCode.INPUT_FAILED, f"cannot read the object: {code} {err.get('Message', '')}"
    if isinstance(exc, BotoCoreError):
        return StatusCode.INPUT_CONNECTION_FAILED, f"cannot reach S3: {exc}"
    return StatusCode.INPUT_FAILED, f"cannot read the object: {exc}"
