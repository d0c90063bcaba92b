"""Settings of S3 drop zones and extraction jobs (INGESTD_DROPZONE__...), archive limits too."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MB = 1024 * 1024


class ArchiveLimits(BaseModel):
    """What an archive may hold; sizes are counted while decompressing, never read from headers."""

    model_config = ConfigDict(frozen=True)  # part of the settings: never changed in place

    max_members: int = Field(10_000, description="Entries per archive (directories included).")
    max_bytes: int = Field(
        4 * 1024 * MB, description="Real decompressed bytes per archive (the extraction area)."
    )
    max_ratio: float = Field(
        100.0, description="Decompressed bytes per compressed byte, once past ratio_floor."
    )
    ratio_floor: int = Field(
        16 * MB, description="Output below this never trips the ratio (small text compresses)."
    )
    max_header_bytes: int = Field(
        1 * MB, description="Size of one tar extended header (long names, pax records)."
    )


class DropZoneSettings(BaseModel):
    model_config = ConfigDict(frozen=True)  # part of the settings: never changed in place

    concurrency: int = Field(16, description="Objects read in parallel.")
    prefetch_bytes: int = Field(
        256 * MB, description="Bytes of objects read ahead of the batcher (memory bound)."
    )
    page_size: int = Field(1000, description="Keys per list_objects_v2 page (S3's maximum).")
    max_object_bytes: int = Field(
        1024 * MB, description="Objects larger than this are refused without being read."
    )
    work_dir: str = Field(
        "./.ingestd/extract", description="Extraction area: archives and their members, per job."
    )
    poll_interval: float = Field(10.0, description="Seconds between watch cycles.")
    rescan_every: int = Field(
        30,
        description="Watch: a full listing every N cycles (changed and deleted objects); "
        "0 = never. Other cycles list only keys after the highest one seen.",
    )
    delete_inputs: bool = Field(
        False, description="Mark the inputs of objects deleted from the bucket as deleted."
    )
    archives: ArchiveLimits = Field(default_factory=ArchiveLimits)
