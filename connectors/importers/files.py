"""Local files as inputs: typed by content first, then by extension."""

from __future__ import annotations

from pathlib import Path

from pipeline.models import Data, Media, MediaType, Text
from pipeline.sniff import sniff

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


def classify_file(path: Path, head: bytes | None = None) -> MediaType | None:
    """The media type of a file: its content decides, the extension breaks ties.

    A `.jpg` whose bytes are garbage stays an image, so the ingest stage refuses it with an
    image status code rather than the importer guessing it away.
    """
    if head is None:
        with path.open("rb") as fh:
            head = fh.read(64)
    by_content = sniff(head).media_type
    by_extension = EXTENSION_TYPES.get(path.suffix.lower())
    if by_content is not None and by_content is not MediaType.TEXT:
        return by_content
    if by_extension is not None:
        return by_extension
    return by_content  # TEXT for text-looking content, None for unknown binary


def data_from_file(path: Path, media_type: MediaType) -> tuple[Data, int]:
    """An input's data carrying the file's bytes inline, and its size."""
    raw = path.read_bytes()
    if media_type is MediaType.TEXT:
        return Data(text=Text(base64=raw)), len(raw)
    return Data(**{media_type.value: Media(base64=raw)}), len(raw)
