"""The folder importer's lister: every file under a root, typed, labelled, with a stable id."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from connectors.importers.files import local_file_data
from connectors.importers.items import ImportItem, item_or_failure
from connectors.importers.staging import FileStager
from pipeline.ids import derived_id, slug
from pipeline.models import Concept, Input
from pipeline.status import StatusCode


def iter_files(root: Path) -> Iterator[Path]:
    """Files under root in a stable order; hidden entries skipped, directory links not followed."""
    for path, error in _walk(root):
        if error is None:
            yield path


def _walk(root: Path) -> Iterator[tuple[Path, OSError | None]]:
    """(file, None) per file, depth first; (folder, error) for a folder that cannot be listed.

    Iterative, not os.walk: os.walk recurses, so a few thousand nested folders ended the
    whole import with RecursionError, and it dropped unlistable folders without a word.
    """
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(
                    (e for e in listing if not e.name.startswith(".")), key=lambda e: e.name
                )
        except OSError as exc:
            yield folder, exc
            continue
        subdirs = []
        for entry in entries:
            if _is_dir(entry):
                if not entry.is_symlink():
                    subdirs.append(Path(entry.path))
            else:
                yield Path(entry.path), None
        stack.extend(reversed(subdirs))


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _unlisted(key: str, exc: OSError, uri: str) -> ImportItem:
    code = StatusCode.INPUT_INVALID_ARGUMENT
    if exc.errno in (errno.EACCES, errno.EPERM):
        code = StatusCode.INPUT_PERMISSION_DENIED
    message = f"cannot list folder {key}: {exc.strerror}; none of its files were imported"
    return ImportItem.failed(key, code, message, source_uri=uri)


def input_id_for(root: Path, relpath: str) -> str:
    """A readable id from the relative path, made unique by a hash of the folder and path.

    The folder (its resolved absolute path) is part of the id: `a/note.txt` and
    `b/note.txt` imported as two folders are two inputs, while importing the same folder
    again names the same inputs (idempotent).
    """
    readable = slug(relpath, max_len=96)
    return f"{readable}-{derived_id('folder', str(root), relpath)[:10]}"


def iter_folder_items(
    root: Path,
    *,
    labels: bool = False,
    metadata: dict[str, Any] | None = None,
    keys: set[str] | None = None,
    stager: FileStager | None = None,
) -> Iterator[ImportItem]:
    """One ImportItem per file; `labels` turns the parent folder's name into a concept.

    With a `stager`, large files go to the blob store in pieces and the item names the blob.
    """
    root = root.resolve()
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    for path, error in _walk(root):
        # surrogateescape'd bytes of a non-UTF-8 name cannot be encoded (ids, reports): shown
        # escaped, and the item refused with how to fix it.
        name = path.relative_to(root).as_posix()
        relpath = os.fsencode(name).decode("utf-8", "backslashreplace")
        if keys is not None and relpath not in keys:
            continue
        uri = (root / relpath).as_posix()
        if error is not None:
            yield _unlisted(relpath, error, uri)
            continue
        if relpath != name:
            yield ImportItem.failed(
                relpath,
                StatusCode.INPUT_INVALID_ARGUMENT,
                f"{relpath}: the file name is not valid UTF-8; rename the file "
                "(e.g. convmv -f latin1 -t utf8) and retry",
                source_uri=uri,
            )
            continue
        input_id = input_id_for(root, relpath)
        build = partial(
            _file_item,
            root,
            relpath,
            input_id,
            labels=labels,
            metadata=metadata,
            stager=stager,
        )
        yield item_or_failure(relpath, input_id, build, uri)


def _file_item(
    root: Path,
    relpath: str,
    input_id: str,
    *,
    labels: bool,
    metadata: dict[str, Any] | None,
    stager: FileStager | None,
) -> ImportItem:
    data, size = local_file_data(root, relpath, relpath, stager)
    parent = Path(relpath).parent.name
    if labels and parent:
        data.concepts = [Concept(id=slug(parent, max_len=120), name=parent, value=1.0)]
    data.metadata = dict(metadata or {})
    uri = (root / relpath).as_posix()
    return ImportItem(key=relpath, input=Input(id=input_id, data=data), size=size, source_uri=uri)


def count_files(root: Path) -> int:
    return sum(1 for _ in _walk(root.resolve()))
