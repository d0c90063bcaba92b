"""Upload limits of ../shared/reference/upload-inputs-and-limits.md, and batching within them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

MB = 1024 * 1024
T = TypeVar("T")

IMAGE_FORMATS = frozenset({"JPEG", "PNG", "TIFF", "BMP", "WEBP", "GIF"})
VIDEO_FORMATS = frozenset({"AVI", "MP4", "WMV", "MOV", "3GPP"})
AUDIO_FORMATS = frozenset({"WAV"})
TEXT_FORMATS = frozenset({"TXT", "CSV", "TSV"})


class Limits(BaseModel):
    """Every limit is a setting (INGESTD_LIMITS__...), defaulting to the reference values."""

    model_config = ConfigDict(frozen=True)  # part of the settings: never changed in place

    batch_inputs: int = Field(128, description="Inputs per request.")
    batch_bytes: int = Field(128 * MB, description="Bytes per request (strictly less).")
    videos_per_request: int = 1
    image_bytes: int = Field(20 * MB, description="Bytes per image (strictly less).")
    image_pixels: int = Field(85_000_000, description="Pixels per image (at most).")
    text_bytes: int = 20 * MB
    audio_bytes: int = 20 * MB
    video_bytes: int = Field(128 * MB, description="Video sent as bytes (strictly less).")
    video_url_bytes: int = Field(300 * MB, description="Video fetched by URL (at most).")
    video_url_seconds: float = Field(
        600.0, description="Video duration (at most; the reference says it for URL videos)."
    )
    metadata_bytes: int = Field(64 * 1024, description="Custom metadata as JSON.")
    metadata_depth: int = 16
    fetch_timeout_s: float = 30.0

    # What happens to media over a limit that splitting can fix (the media stage).
    oversized: Literal["split", "refuse"] = Field(
        "split", description="split: store the original and chunk it; refuse: 30105/31105."
    )
    video_split_mode: Literal["copy", "exact"] = Field(
        "copy", description="copy: stream copy cut at keyframes; exact: re-encode, exact cuts."
    )
    image_oversize: Literal["downscale", "tile"] = "downscale"
    image_tile_size: int = Field(2048, ge=64, description="Tile edge in pixels.")
    image_tile_overlap: int = Field(128, ge=0, description="Pixels shared by adjacent tiles.")
    image_jpeg_quality: int = Field(90, ge=1, le=95)
    image_source_pixels: int = Field(
        170_000_000,
        description="Largest image the media stage decodes; Pillow's bomb guard refuses "
        "more than 170 MP whatever this says.",
    )
    video_source_seconds: float = Field(
        48 * 3600.0, description="Longer claimed durations are refused as absurd."
    )
    text_chunk_chars: int | None = Field(
        None, ge=1, description="Characters per text chunk; default: as many as fit."
    )
    text_overlap_chars: int = Field(0, ge=0)
    split_target: float = Field(
        0.9, gt=0.1, le=1.0, description="Fraction of a byte limit a planned chunk aims at."
    )
    probe_timeout_s: float = Field(30.0, description="Each ffprobe call; killed after.")
    ffmpeg_timeout_s: float = Field(3600.0, description="Each ffmpeg split or conversion.")


def batches(
    items: Iterable[T],
    size_of: Callable[[T], int],
    limits: Limits,
    is_video: Callable[[T], bool] = lambda _item: False,
) -> Iterator[list[T]]:
    """Group items into batches under the count, byte and video limits, keeping order.

    An item too large for any batch travels alone; the ingest stage then refuses it with a
    clear over-limit status instead of the batcher hiding it.
    """
    return shard_batches(items, lambda _item: 0, size_of, limits, is_video)


def shard_batches(
    items: Iterable[T],
    shard_of: Callable[[T], int],
    size_of: Callable[[T], int],
    limits: Limits,
    is_video: Callable[[T], bool] = lambda _item: False,
    held_bytes: int | None = None,
) -> Iterator[list[T]]:
    """`batches`, each holding one shard's items in their order (so a request can be keyed
    by its shard). Open batches wait to fill up; when together they hold `held_bytes` (or
    more), the largest goes at once, which bounds the memory held whatever the shard count."""
    open_: dict[int, list[T]] = {}
    used: dict[int, int] = {}
    videos: dict[int, int] = {}
    held = 0
    for item in items:
        shard, size, video = shard_of(item), size_of(item), int(is_video(item))
        batch = open_.get(shard)
        if batch:
            full = len(batch) >= limits.batch_inputs or used[shard] + size >= limits.batch_bytes
            if full or videos[shard] + video > limits.videos_per_request:
                held -= used[shard]
                yield _close(open_, used, videos, shard)
        open_.setdefault(shard, []).append(item)
        used[shard] = used.get(shard, 0) + size
        videos[shard] = videos.get(shard, 0) + video
        held += size
        if held_bytes is not None and held >= held_bytes:
            largest = max(used, key=used.__getitem__)
            held -= used[largest]
            yield _close(open_, used, videos, largest)
    for shard in list(open_):
        yield _close(open_, used, videos, shard)


def _close(
    open_: dict[int, list[T]], used: dict[int, int], videos: dict[int, int], shard: int
) -> list[T]:
    del used[shard], videos[shard]
    return open_.pop(shard)
