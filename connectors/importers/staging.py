"""Large local files go to the ingest stage through the blob store, never as bytes.

A folder or CSV import used to read every file whole into its upload request, so a 1 GB
video sat in memory (twice, as base64 on Kafka). A file of STAGE_BYTES or more is instead
hashed in pieces and uploaded from its open descriptor to its content-addressed key
(the key the ingest stage computes for the same bytes), and the input names that key: the
ingest stage then reads, checks and stores it from a file as it does any large blob.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from connectors.importers.local_paths import fd_path
from pipeline.ids import blob_key
from pipeline.models import Data, Media, MediaType, Text
from pipeline.ports import BlobStore
from pipeline.sniff import sniff

STAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class FileStager:
    """Uploads one open local file to the blob store; `threshold`: smaller files travel inline."""

    blobs: BlobStore
    user_id: str
    app_id: str
    threshold: int = STAGE_BYTES

    def wants(self, size: int) -> bool:
        return size >= self.threshold

    def stage(self, fh: io.BufferedReader, head: bytes, media_type: MediaType) -> Data:
        """An input's data naming the file's blob (the file is read twice, in pieces)."""
        fh.seek(0)
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
        key = blob_key(self.user_id, self.app_id, digest, sniff(head[:64]).extension)
        # From the descriptor opened under the import's checks, not its name: a link swapped
        # in since cannot redirect the upload.
        self.blobs.put_file(key, fd_path(fh))
        if media_type is MediaType.TEXT:
            return Data(text=Text(blob_key=key))
        return Data(**{media_type.value: Media(blob_key=key)})
