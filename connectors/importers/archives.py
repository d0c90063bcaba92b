"""Archives in a drop zone (zip, tar, tar.gz/.bz2/.xz), extracted safely into an extraction area.

A hostile archive is refused whole, before any member becomes an input: members with `..`
or absolute paths, links, device files, encrypted members, too many members, and real
decompressed bytes (counted while reading, never taken from headers) over the size or
ratio limit. Members are written under numbered names inside the area, never under their
own names, so nothing can land outside it.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import stat
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from connectors.importers.dropzone_config import ArchiveLimits
from pipeline.errors import InputError
from pipeline.status import StatusCode

CHUNK = 1024 * 1024
_COMPRESSED_TAR = {"tar.gz": gzip.open, "tar.bz2": bz2.open, "tar.xz": lzma.open}


class ArchiveRefused(InputError):
    """The archive as a whole is refused (67000): no member of it becomes an input."""

    def __init__(self, message: str) -> None:
        super().__init__(StatusCode.ARCHIVE_EXTRACT_FAILED, message)


class Stopped(Exception):
    """Extraction stopped because the job was cancelled."""


@dataclass
class Member:
    name: str  # path inside the archive: part of the input id and of reports
    path: Path  # where its bytes are, inside the extraction area
    size: int


_NAMED = (
    (".zip", "zip"),
    (".tar", "tar"),
    (".tar.gz", "tar.gz"),
    (".tgz", "tar.gz"),
    (".tar.bz2", "tar.bz2"),
    (".tbz2", "tar.bz2"),
    (".tbz", "tar.bz2"),
    (".tar.xz", "tar.xz"),
    (".txz", "tar.xz"),
)


def archive_kind_by_name(name: str) -> str | None:
    """The archive kind a name claims by its extension, or None."""
    lower = name.lower()
    return next((kind for suffix, kind in _NAMED if lower.endswith(suffix)), None)


def detect_archive(name: str, path: Path) -> str | None:
    """The kind of archive the file at `path` is, judged by its name and a real attempt to open.

    Three magic bytes alone prove nothing (a text beginning "BZh" is no bzip2 stream): a
    file is an archive when it opens as one, or when its name says so (then extraction
    refuses it with 67000 if it does not open).
    """
    with path.open("rb") as fh:
        head = fh.read(512)
    named = archive_kind_by_name(name)
    for kind in dict.fromkeys(k for k in (archive_kind(head), named) if k is not None):
        if _opens_as(path, kind):
            return kind
    return named


def _opens_as(path: Path, kind: str) -> bool:
    """Whether the file starts like a readable archive of `kind` (the first member's header)."""
    if kind == "zip":
        return zipfile.is_zipfile(path)
    opener = _COMPRESSED_TAR.get(kind, open)
    try:
        with opener(path, "rb") as raw:  # type: ignore[operator]
            block = raw.read(tarfile.BLOCKSIZE)
        tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
        return True
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError, ValueError):
        return False


def archive_kind(head: bytes) -> str | None:
    """The archive a file's first 512 bytes suggest (zip, tar, tar.gz/.bz2/.xz), or None.

    Only a hint of what to try: `detect_archive` decides.
    """
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[:3] == b"BZh":
        return "tar.bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "tar.xz"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def extract_archive(
    archive: Path,
    kind: str,
    area: Path,
    limits: ArchiveLimits,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[Member]:
    """Every regular member, written to `area/<n>`; raises ArchiveRefused on anything hostile."""
    area.mkdir(parents=True, exist_ok=True)
    into = _Into(area, limits, _Budget(limits, archive.stat().st_size), should_stop)
    return _zip_members(archive, into) if kind == "zip" else _tar_members(archive, kind, into)


@dataclass(frozen=True)
class _Into:
    """Where and under which bounds one archive is extracted."""

    area: Path
    limits: ArchiveLimits
    budget: _Budget
    should_stop: Callable[[], bool]


def check_member_name(name: str) -> str:
    """The member's path, refused when absolute or climbing out with `..`."""
    if "\x00" in name:
        raise ArchiveRefused(f"member name {name!r} contains a NUL byte")
    unified = name.replace("\\", "/")
    parts = PurePosixPath(unified).parts
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise ArchiveRefused(f"member {name!r} has an absolute path")
    if ".." in parts:
        raise ArchiveRefused(f"member {name!r} climbs out of the archive with '..'")
    return "/".join(p for p in parts if p not in ("", "."))


def is_hidden(name: str) -> bool:
    """Hidden files and macOS resource forks are not inputs (the folder importer agrees)."""
    parts = name.split("/")
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)


class _Budget:
    """Counts real decompressed bytes; refuses past the size or the ratio limit."""

    def __init__(self, limits: ArchiveLimits, compressed: int) -> None:
        self.limits = limits
        self.compressed = max(1, compressed)
        self.total = 0

    def add(self, n: int) -> None:
        self.total += n
        lim = self.limits
        if self.total > lim.max_bytes:
            raise ArchiveRefused(
                f"archive decompresses to more than {lim.max_bytes} bytes "
                "(INGESTD_DROPZONE__ARCHIVES__MAX_BYTES); refused"
            )
        if self.total > lim.ratio_floor and self.total > lim.max_ratio * self.compressed:
            raise ArchiveRefused(
                f"archive of {self.compressed} bytes decompresses to more than {self.total} "
                f"bytes, a ratio over {lim.max_ratio:g} (a decompression bomb?); refused"
            )


class _Names:
    """Member names seen so far: a second member of the same name would shadow the first."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.seen: set[str] = set()
        self.entries = 0

    def count(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_members:
            raise ArchiveRefused(
                f"archive has more than {self.limits.max_members} members "
                "(INGESTD_DROPZONE__ARCHIVES__MAX_MEMBERS); refused"
            )

    def claim(self, name: str) -> None:
        if name in self.seen:
            raise ArchiveRefused(f"member {name!r} appears twice in the archive")
        self.seen.add(name)


def _copy(
    src: IO[bytes], dest: Path, budget: _Budget | None, should_stop: Callable[[], bool]
) -> int:
    size = 0
    with dest.open("xb") as out:
        while chunk := src.read(CHUNK):
            if budget is not None:
                budget.add(len(chunk))
            if should_stop():
                raise Stopped()
            out.write(chunk)
            size += len(chunk)
    return size


def _zip_members(archive: Path, into: _Into) -> list[Member]:
    area, limits, budget, should_stop = into.area, into.limits, into.budget, into.should_stop
    with archive.open("rb") as fh:
        # The entry count of the end record is read before zipfile loads the whole central
        # directory into memory; the real entries are counted again below.
        end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]
        if end is None:
            raise ArchiveRefused("not a readable zip archive (no end of central directory)")
        if end[zipfile._ECD_ENTRIES_TOTAL] > limits.max_members:  # type: ignore[attr-defined]
            raise ArchiveRefused(
                f"zip declares {end[zipfile._ECD_ENTRIES_TOTAL]} members; at most "  # type: ignore[attr-defined]
                f"{limits.max_members} are allowed"
            )
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            names = _Names(limits)
            regular: list[tuple[zipfile.ZipInfo, str]] = []
            for info in infos:  # every check before the first byte is decompressed
                names.count()
                name = check_member_name(info.filename)
                mode = info.external_attr >> 16
                if info.flag_bits & 0x1:
                    raise ArchiveRefused(f"member {info.filename!r} is encrypted")
                if stat.S_ISLNK(mode):
                    raise ArchiveRefused(f"member {info.filename!r} is a symbolic link")
                if info.is_dir() or not name:
                    continue
                if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                    raise ArchiveRefused(f"member {info.filename!r} is not a regular file")
                names.claim(name)
                if not is_hidden(name):
                    regular.append((info, name))
            members = []
            for n, (info, name) in enumerate(regular):
                dest = area / f"{n:06d}"
                with zf.open(info) as src:
                    size = _copy(src, dest, budget, should_stop)
                members.append(Member(name, dest, size))
            return members
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise ArchiveRefused(f"zip archive cannot be read: {exc}") from None


class _Counting:
    """The decompressed tar stream, every byte counted against the budget."""

    def __init__(self, raw: IO[bytes], budget: _Budget, should_stop: Callable[[], bool]) -> None:
        self.raw, self.budget, self.should_stop = raw, budget, should_stop

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(CHUNK if n < 0 else min(n, CHUNK))
        self.budget.add(len(data))
        if self.should_stop():
            raise Stopped()
        return data


def _safe_tarinfo(limits: ArchiveLimits) -> type[tarfile.TarInfo]:
    class SafeTarInfo(tarfile.TarInfo):
        # tarfile reads a long-name or pax header into memory whole, at whatever size
        # the header declares: bound it first.
        def _proc_member(self, tf: Any) -> Any:
            extended = (
                tarfile.GNUTYPE_LONGNAME,
                tarfile.GNUTYPE_LONGLINK,
                tarfile.XHDTYPE,
                tarfile.XGLTYPE,
                tarfile.SOLARIS_XHDTYPE,
            )
            if self.type in extended and self.size > limits.max_header_bytes:
                raise ArchiveRefused(
                    f"tar extended header of {self.size} bytes; at most "
                    f"{limits.max_header_bytes} are allowed"
                )
            return super()._proc_member(tf)  # type: ignore[misc]

    return SafeTarInfo


def _tar_members(archive: Path, kind: str, into: _Into) -> list[Member]:
    area, limits, budget, should_stop = into.area, into.limits, into.budget, into.should_stop
    opener = _COMPRESSED_TAR.get(kind, open)
    names = _Names(limits)
    members: list[Member] = []
    try:
        with opener(archive, "rb") as raw:  # type: ignore[operator]
            stream = _Counting(raw, budget, should_stop)
            # Stream mode ("r|"): one pass, members in order, no seeking back.
            with tarfile.open(  # type: ignore[call-overload]
                fileobj=stream,
                mode="r|",
                tarinfo=_safe_tarinfo(limits),
            ) as tf:
                for info in tf:
                    names.count()
                    name = check_member_name(info.name)
                    if info.issym() or info.islnk():
                        raise ArchiveRefused(f"member {info.name!r} is a link to {info.linkname!r}")
                    if info.isdir() or not name:
                        continue
                    if not info.isreg():
                        raise ArchiveRefused(f"member {info.name!r} is not a regular file")
                    names.claim(name)
                    if is_hidden(name):
                        continue
                    src = tf.extractfile(info)
                    assert src is not None  # regular members always have data
                    dest = area / f"{len(members):06d}"
                    # The stream already counts these bytes: no second budget here.
                    size = _copy(src, dest, None, should_stop)
                    members.append(Member(name, dest, size))
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError) as exc:
        raise ArchiveRefused(f"{kind} archive cannot be read: {exc}") from None
    return members
