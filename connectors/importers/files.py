"""Local files as inputs: typed by content first, then by extension."""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from connectors.importers.local_paths import open_local_file
from connectors.importers.staging import FileStager
from pipeline.errors import InputError
from pipeline.models import Data, Media, MediaType, Text
from pipeline.sniff import sniff
from pipeline.status import StatusCode

EXTENSION_TYPES: dict[str, MediaType] = {
    **dict.fromkeys(
        (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"), MediaType.IMAGE
    ),
    **dict.fromkeys(
        (".mp4", ".mov", ".avi", ".wmv", ".3gp", ".3gpp", ".mkv", ".webm"), MediaType.VIDEO
    ),
    **dict.fromkeys((".wav", ".mp3", ".flac", ".ogg", ".m4a"), MediaType.AUDIO),
    **dict.fromkeys((".txt", ".csv", ".tsv", ".md", ".json"), MediaType.TEXT),
}


def classify_file(path: PurePath, head: bytes) -> MediaType | None:
    """The media type of a file: its content decides, the extension breaks ties.

    A `.jpg` whose bytes are garbage stays an image, so the ingest stage refuses it with an
    image status code rather than the importer guessing it away.
    """
    by_content = sniff(head[:64]).media_type
    by_extension = EXTENSION_TYPES.get(path.suffix.lower())
    if by_content is not None and by_content is not MediaType.TEXT:
        return by_content
    if by_extension is not None:
        return by_extension
    return by_content  # TEXT for text-looking content, None for unknown binary


def check_not_empty(raw: bytes, name: PurePath, shown: str) -> None:
    """A zero-byte file is no input of any type: refused with the code of its type."""
    if raw:
        return
    video = EXTENSION_TYPES.get(name.suffix.lower()) is MediaType.VIDEO
    code = StatusCode.INPUT_VIDEO_INVALID_ARGUMENT if video else StatusCode.INPUT_INVALID_ARGUMENT
    raise InputError(code, f"{shown} is empty (0 bytes): there is nothing to import")


def data_from_bytes(raw: bytes, media_type: MediaType) -> tuple[Data, int]:
    """An input's data carrying the bytes inline, and their size."""
    if media_type is MediaType.TEXT:
        return Data(text=Text(base64=raw)), len(raw)
    return Data(**{media_type.value: Media(base64=raw)}), len(raw)


def local_file_data(
    root: Path,
    name: str,
    shown: str,
    stager: FileStager | None,
    *,
    start: Path | None = None,
    forced: MediaType | None = None,
) -> tuple[Data, int]:
    """The data of the regular file `name` under `root`, and its size: inline when small,
    through the stager's blob when large (read in pieces, never whole)."""
    with open_local_file(root, name, shown=shown, start=start) as fh:  # refuses links out, /proc
        size = os.fstat(fh.fileno()).st_size
        if stager is None or not stager.wants(size):
            raw = fh.read()
            check_not_empty(raw, PurePath(name), shown)
            return data_from_bytes(raw, _media_type(name, shown, raw, forced))
        head = fh.read(64)
        return stager.stage(fh, head, _media_type(name, shown, head, forced)), size


def _media_type(name: str, shown: str, head: bytes, forced: MediaType | None) -> MediaType:
    media_type = forced or classify_file(PurePath(name), head)
    if media_type is None:
        raise InputError(
            StatusCode.INPUT_UNSUPPORTED_FORMAT,
            f"{shown}: neither its content nor its extension is a supported image, "
            "video, audio or text type",
        )
    return media_type
