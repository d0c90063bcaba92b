"""The media stage: what happens to an input too large for the upload limits.

MediaTask in → download the original to a temporary directory → split it (video, audio,
text) or downscale/tile it (images) → upload each chunk to a deterministic key → one
catalog transaction: chunk inputs linked to the parent, annotations moved to the chunk
that holds them, dataset memberships, the parent marked done with the list of its chunks.
Bad media fail the parent with a status code; a rerun after a crash rewrites the same keys
and ids, so nothing is duplicated.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.events import MediaTask
from pipeline.ids import check_id, derived_id, fingerprint
from pipeline.limits import Limits
from pipeline.media.chunking import Piece, Split
from pipeline.media.chunking.annotations import move_annotations
from pipeline.media.chunking.audio import PCM_TAGS, read_wav_layout, split_wav, to_wav
from pipeline.media.chunking.images import downscale_image, tile_image
from pipeline.media.chunking.records import ChunkLink, MediaParent
from pipeline.media.chunking.text import split_text
from pipeline.media.chunking.video import split_video
from pipeline.media.ports import ChunkCommit, MediaCatalog
from pipeline.models import MediaType
from pipeline.ports import BlobStore
from pipeline.records import (
    AnnotationRecord,
    InputRecord,
    input_level_annotation,
    sent_annotation,
)
from pipeline.stage import FollowUp
from pipeline.status import StatusCode

log = logging.getLogger(__name__)

# The settings that shape the chunks: chunk keys change when these do, never otherwise.
SPLIT_SETTINGS = {
    "video_bytes",
    "video_url_seconds",
    "video_split_mode",
    "split_target",
    "audio_bytes",
    "text_bytes",
    "text_chunk_chars",
    "text_overlap_chars",
    "image_bytes",
    "image_pixels",
    "image_oversize",
    "image_tile_size",
    "image_tile_overlap",
    "image_jpeg_quality",
}


@dataclass
class MediaResult:
    task_id: str
    input_id: str
    code: StatusCode
    message: str = ""
    chunk_ids: list[str] = field(default_factory=list)
    mode: str | None = None
    skipped: bool = False
    follow_ups: list[FollowUp] = field(default_factory=list)
    """Always empty: chunks are written here, not handed on."""


def chunk_id(parent_id: str, index: int) -> str:
    """`<parent>-chunk-0003`; long parent ids are shortened with a hash to stay unique."""
    readable = f"{parent_id}-chunk-{index:04d}"
    if len(readable) <= 128:
        return readable
    return f"{parent_id[:96]}-{derived_id(parent_id)[:10]}-chunk-{index:04d}"


@dataclass(eq=False)
class MediaStage:
    """Turns MediaTasks into chunk inputs. Both transports call `handle`."""

    name = "media"
    event_type = MediaTask

    blobs: BlobStore
    catalog: MediaCatalog
    limits: Limits = field(default_factory=Limits)
    blob_concurrency: int = 4
    workdir: Path | None = None

    def handle(self, task: MediaTask) -> MediaResult:
        parents = self.catalog.media_parents(task.user_id, task.app_id, [task.input_id])
        parent = parents.get(task.input_id)
        if parent is None:
            raise InputError(
                StatusCode.INPUT_DOES_NOT_EXIST,
                f"input {task.input_id!r} of media task {task.task_id} is not in the catalog",
            )
        if parent.blob_key != task.blob_key or parent.status_code != StatusCode.INPUT_PENDING:
            # Done already (a replay) or replaced by newer content with a task of its own.
            return MediaResult(
                task.task_id, parent.id, StatusCode(parent.status_code), skipped=True
            )
        with tempfile.TemporaryDirectory(prefix="ingestd-media-", dir=self.workdir) as tmp:
            work = Path(tmp)
            source = work / f"source.{Path(parent.blob_key).suffix.lstrip('.') or 'bin'}"
            self.blobs.download(parent.blob_key, source)
            out = work / "chunks"
            out.mkdir()
            try:
                split = self.split(parent, source, out)
                return self._store(task, parent, split)
            except InputError as exc:
                code = _typed(exc.code, parent.media_type)
                log.info("media task %s: %s failed: %s", task.task_id, parent.id, exc.message)
                self.catalog.fail_media(task.task_id, parent, int(code), exc.message)
                return MediaResult(task.task_id, parent.id, code, exc.message)

    def split(self, parent: MediaParent, source: Path, out: Path) -> Split:
        """Cut a local copy of the parent's medium into pieces under `out`."""
        limits = self.limits
        kind, fmt = parent.media_type, parent.format or ""
        if kind == MediaType.VIDEO:
            return split_video(source, fmt, out, limits)
        if kind == MediaType.AUDIO:
            if fmt == "WAV":
                with source.open("rb") as fh:
                    layout = read_wav_layout(fh, source.stat().st_size)
                if layout.format_tag in PCM_TAGS:
                    return split_wav(source, out, limits)
            wav = to_wav(source, fmt, out.parent / "converted.wav", limits)
            split = split_wav(wav, out, limits)
            split.notes["converted_from"] = fmt
            return split
        if kind == MediaType.TEXT:
            return split_text(source, out, limits)
        if kind == MediaType.IMAGE:
            if limits.image_oversize == "tile":
                return tile_image(source, out, limits)
            return downscale_image(source, out, limits)
        raise InputError(StatusCode.INPUT_UNSUPPORTED_FORMAT, f"cannot split {kind} media")

    # -- storing ----------------------------------------------------------------------

    def _store(self, task: MediaTask, parent: MediaParent, split: Split) -> MediaResult:
        pieces = split.pieces
        count = len(pieces)
        params = fingerprint(self.limits.model_dump(include=SPLIT_SETTINGS))[:12]
        ids = [check_id(chunk_id(parent.id, p.index)) for p in pieces]
        chunks: list[tuple[InputRecord, ChunkLink]] = []
        with ThreadPoolExecutor(max_workers=max(1, self.blob_concurrency)) as pool:
            uploads = []
            for piece, cid in zip(pieces, ids, strict=True):
                record, link = self._chunk_record(task, parent, piece, cid, count, params)
                assert record.blob_key is not None
                uploads.append(pool.submit(self.blobs.put_file, record.blob_key, piece.path))
                chunks.append((record, link))
            for upload in uploads:
                upload.result()  # a storage failure propagates: the transport retries the task
        annotations, dropped = self._annotations(task, parent, split, chunks)
        summary: dict[str, Any] = {"count": count, "ids": ids, "mode": split.mode, **split.notes}
        if dropped:
            summary["dropped_regions"] = dropped
        taken = self.catalog.commit_chunks(
            ChunkCommit(task.task_id, parent, chunks, annotations, summary)
        )
        if taken:
            message = (
                f"chunk ids {', '.join(taken[:3])} belong to other inputs; rename the input "
                f"{parent.id!r} or those inputs"
            )
            self.catalog.fail_media(
                task.task_id, parent, int(StatusCode.DATABASE_DUPLICATE_KEY), message
            )
            return MediaResult(task.task_id, parent.id, StatusCode.DATABASE_DUPLICATE_KEY, message)
        return MediaResult(
            task.task_id,
            parent.id,
            StatusCode.INPUT_SUCCESS,
            f"split into {count} chunk(s) ({split.mode})",
            chunk_ids=ids,
            mode=split.mode,
        )

    def _chunk_record(
        self,
        task: MediaTask,
        parent: MediaParent,
        piece: Piece,
        cid: str,
        count: int,
        params: str,
    ) -> tuple[InputRecord, ChunkLink]:
        with piece.path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        position = piece.position()
        meta = {"parent_input_id": parent.id, "index": piece.index, "count": count, **position}
        key = (
            f"chunks/{parent.user_id}/{parent.app_id}/{parent.sha256[:2]}/{parent.sha256}/"
            f"{params}/{piece.index:05d}.{piece.extension}"
        )
        record = InputRecord(
            user_id=parent.user_id,
            app_id=parent.app_id,
            id=cid,
            media_type=parent.media_type,
            status_code=StatusCode.INPUT_SUCCESS,
            format=piece.format,
            blob_key=key,
            sha256=digest,
            size=piece.path.stat().st_size,
            width=piece.width,
            height=piece.height,
            concepts=parent.concepts,
            metadata={**parent.metadata, "chunk": meta},
            geo=parent.geo,
            request_id=parent.request_id,
            job_id=parent.job_id,
            source=parent.source,
            dataset_ids=list(task.dataset_ids),
            **parent.lineage,  # a chunk came from where its parent came from
        )
        record.fingerprint = fingerprint(
            {"parent": parent.fingerprint, "chunk": meta, "sha256": digest}
        )
        link = ChunkLink(
            parent.id,
            piece.index,
            count,
            piece.start_ms,
            piece.end_ms,
            piece.start_offset,
            piece.end_offset,
        )
        return record, link

    def _annotations(
        self,
        task: MediaTask,
        parent: MediaParent,
        split: Split,
        chunks: list[tuple[InputRecord, ChunkLink]],
    ) -> tuple[list[AnnotationRecord], int]:
        size = None
        if split.mode == "tile":
            size = (int(split.notes["width"]), int(split.notes["height"]))
        moved, dropped = move_annotations(task.annotations, split.pieces, size)
        out: list[AnnotationRecord] = []
        for (record, _link), placed in zip(chunks, moved, strict=True):
            if record.concepts:
                out.append(input_level_annotation(record, record.user_id))
            for key, ann in placed:
                data = ann.data.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
                info = dict(ann.annotation_info)
                if ann.id:
                    info["source_annotation_id"] = ann.id
                ann_id = derived_id(record.app_id, record.id, key)
                out.append(sent_annotation(ann, ann_id, record, parent.user_id, data, info))
        return out, dropped


def _typed(code: StatusCode, media_type: str) -> StatusCode:
    """Video failures use the 31xxx family, as the reference does."""
    if media_type != MediaType.VIDEO:
        return code
    return {
        StatusCode.INPUT_FAILED: StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED,
        StatusCode.INPUT_UNSUPPORTED_FORMAT: StatusCode.INPUT_VIDEO_UNSUPPORTED_FORMAT,
        StatusCode.INPUT_OVER_LIMIT: StatusCode.INPUT_VIDEO_OVER_LIMIT,
    }.get(code, code)
