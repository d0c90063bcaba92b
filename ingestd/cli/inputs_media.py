"""`ingestd inputs download`, and the text of a text input for `inputs get`.

Media is copied blob → file by the blob store in pieces (never whole in memory) into a
temporary file beside the target, renamed into place when complete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import typer

from ingestd.cli.options import JsonOpt, coded, console, emit_json, fail
from ingestd.cli.state import open_runtime
from pipeline.ports import BlobStore
from pipeline.status import StatusCode

TEXT_SHOWN = 4096  # bytes of a text input `inputs get` shows


def text_start(blobs: BlobStore, key: str, limit: int = TEXT_SHOWN) -> tuple[str, bool]:
    """The first `limit` bytes of a text blob as text, and whether there was more."""
    size = blobs.size(key)
    if size is not None and size <= limit:
        head = blobs.get(key)
    else:  # a long text is read from a local copy, so memory stays bounded
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp, "text")
            blobs.download(key, copy)
            with copy.open("rb") as fh:
                head = fh.read(limit + 1)
    truncated = len(head) > limit
    # A cut inside a multi-byte character drops that character, nothing else.
    return head[:limit].decode("utf-8", errors="ignore" if truncated else "replace"), truncated


def add_text(blobs: BlobStore, row: dict[str, Any]) -> None:
    """Put a text input's content (bounded) in its row: `text`, `text_truncated`."""
    if row.get("media_type") == "text" and row.get("blob_key"):
        row["text"], row["text_truncated"] = text_start(blobs, row["blob_key"])


def show_text(row: dict[str, Any]) -> None:
    if "text" not in row:
        return
    console.print("[bold]text[/]:")
    console.print(row["text"], markup=False, highlight=False)
    if row["text_truncated"]:
        console.print(
            f"[yellow](truncated: the first {TEXT_SHOWN} bytes; "
            f"`ingestd inputs download {row['id']} -o FILE` writes it all)[/]"
        )


def inputs_download(
    input_id: str,
    output: Path = typer.Option(..., "--output", "-o", help="File to write the media to."),
    as_json: bool = JsonOpt,
) -> None:
    """Write an input's stored media to a file."""
    with open_runtime() as rt:
        s = rt.settings
        row = rt.catalog.get_input(s.user_id, s.app_id, input_id)
        if row is None:
            fail(coded(StatusCode.INPUT_DOES_NOT_EXIST, f"no input {input_id!r}"))
        key = row["blob_key"]
        if not key:
            fail(
                coded(
                    StatusCode.INPUT_INVALID_ARGUMENT,
                    f"input {input_id!r} has no stored media "
                    f"(status {row['status_code']}: {row['status_message']})",
                )
            )
        target = output.resolve()
        if target.is_dir():
            fail(f"--output {output} is a directory; name a file")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        try:
            rt.blobs.download(key, Path(tmp))
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
    size = target.stat().st_size
    if as_json:
        emit_json({"id": input_id, "path": str(target), "bytes": size, "sha256": row["sha256"]})
    else:
        console.print(f"wrote {size} bytes of {input_id} to {target}")
