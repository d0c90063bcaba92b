"""Upload limits of ../shared/reference/upload-inputs-and-limits.md, and batching within them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from pydantic import BaseModel, Field

MB = 1024 * 1024
T = TypeVar("T")

IMAGE_FORMATS = frozenset({"JPEG", "PNG", "TIFF", "BMP", "WEBP", "GIF"})
VIDEO_FORMATS = frozenset({"AVI", "MP4", "WMV", "MOV", "3GPP"})
AUDIO_FORMATS = frozenset({"WAV"})
TEXT_FORMATS = frozenset({"TXT", "CSV", "TSV"})


class Limits(BaseModel):
    """Every limit is a setting (INGESTD_LIMITS__...), defaulting to the reference values."""

    batch_inputs: int = Field(128, description="Inputs per request.")
    batch_bytes: int = Field(128 * MB, description="Bytes per request (strictly less).")
    videos_per_request: int = 1
    image_bytes: int = Field(20 * MB, description="Bytes per image (strictly less).")
    image_pixels: int = Field(85_000_000, description="Pixels per image (at most).")
    text_bytes: int = 20 * MB
    audio_bytes: int = 20 * MB
    video_bytes: int = Field(128 * MB, description="Video sent as bytes (strictly less).")
    video_url_bytes: int = Field(300 * MB, description="Video fetched by URL (at most).")
    video_url_seconds: float = Field(600.0, description="Video fetched by URL (at most).")
    metadata_bytes: int = Field(64 * 1024, description="Custom metadata as JSON.")
    metadata_depth: int = 16
    fetch_timeout_s: float = 30.0


def batches(items: Iterable[T], size_of: Callable[[T], int], limits: Limits) -> Iterator[list[T]]:
    """Group items into batches under the count and byte limits, keeping order.

    An item too large for any batch travels alone; the ingest stage then refuses it with a
    clear over-limit status instead of the batcher hiding it.
    """
    batch: list[T] = []
    used = 0
    for item in items:
        size = size_of(item)
        if batch and (len(batch) >= limits.batch_inputs or used + size >= limits.batch_bytes):
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += size
    if batch:
        yield batch
