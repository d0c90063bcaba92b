"""Archive extraction: good archives give their members, hostile ones are refused whole.

Real zip and tar files built with the standard library (and patched bytes where the
library refuses to write something hostile); nothing may appear outside the area.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from connectors.importers.archives import (
    ArchiveRefused,
    archive_kind,
    check_member_name,
    detect_archive,
    extract_archive,
)
from connectors.importers.dropzone_config import ArchiveLimits
from pipeline.status import StatusCode
from tests.support.storage import image_bytes

LIMITS = ArchiveLimits()


def make_zip(path: Path, members: dict[str, bytes], **kw: object) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_tar(path: Path, mode: str, infos: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, mode) as tf:
        for info, data in infos:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def reg(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def refused(archive: Path, kind: str, area: Path, limits: ArchiveLimits = LIMITS) -> str:
    with pytest.raises(ArchiveRefused) as caught:
        extract_archive(archive, kind, area, limits)
    assert caught.value.code is StatusCode.ARCHIVE_EXTRACT_FAILED
    return caught.value.message


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("mode,kind", [("w", "tar"), ("w:gz", "tar.gz"), ("w:bz2", "tar.bz2")])
def test_tar_members_are_extracted_under_numbered_names(
    tmp_path: Path, mode: str, kind: str
) -> None:
    jpeg = image_bytes()
    archive = make_tar(
        tmp_path / "a.tar",
        mode,
        [reg("photos/cat.jpg", jpeg), reg("notes/read me.txt", b"hello"), reg(".DS_Store", b"x")],
    )
    assert archive_kind(archive.read_bytes()[:512]) == kind
    members = extract_archive(archive, kind, tmp_path / "area", LIMITS)
    assert [(m.name, m.size) for m in members] == [
        ("photos/cat.jpg", len(jpeg)),
        ("notes/read me.txt", 5),
    ]
    assert members[0].path.read_bytes() == jpeg
    assert files_under(tmp_path / "area") == {"000000", "000001"}  # never the members' names


def test_zip_members_hidden_entries_and_directories(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "a.zip",
        {"x/": b"", "x/a.png": image_bytes("PNG"), "__MACOSX/x/._a.png": b"junk", "b.txt": b"hi"},
    )
    members = extract_archive(archive, "zip", tmp_path / "area", LIMITS)
    assert [m.name for m in members] == ["x/a.png", "b.txt"]


@pytest.mark.parametrize(
    "name", ["../evil.txt", "a/../../evil.txt", "/etc/evil.txt", "C:/evil.txt", "..\\evil.txt"]
)
def test_paths_outside_the_archive_are_refused(tmp_path: Path, name: str) -> None:
    area = tmp_path / "deep" / "area"
    archive = make_zip(tmp_path / "a.zip", {"fine.txt": b"ok", name: b"pwned"})
    message = refused(archive, "zip", area)
    assert "absolute path" in message or "climbs out" in message
    assert not list(tmp_path.rglob("evil.txt"))
    assert files_under(area) == set()  # refused before the first member was written
    tar = make_tar(tmp_path / "a.tar", "w", [reg("fine.txt", b"ok"), reg(name, b"pwned")])
    refused(tar, "tar", tmp_path / "area2")
    assert not list(tmp_path.rglob("evil.txt"))


def test_member_names_are_normalised_or_refused() -> None:
    assert check_member_name("./a//b/c.jpg") == "a/b/c.jpg"
    for bad in ("..", "a/..", "/abs", "a\x00b"):
        with pytest.raises(ArchiveRefused):
            check_member_name(bad)


def test_links_and_devices_in_tar_are_refused(tmp_path: Path) -> None:
    sym = tarfile.TarInfo("link.jpg")
    sym.type, sym.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard.jpg")
    hard.type, hard.linkname = tarfile.LNKTYPE, "a.jpg"
    dev = tarfile.TarInfo("dev")
    dev.type = tarfile.CHRTYPE
    for n, info in enumerate((sym, hard, dev)):
        archive = make_tar(tmp_path / f"{n}.tar", "w", [reg("a.jpg", b"x"), (info, None)])
        message = refused(archive, "tar", tmp_path / f"area{n}")
        assert "link" in message or "not a regular file" in message
    assert not (tmp_path / "area0" / "link.jpg").exists()


def test_symlink_in_zip_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link.jpg")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    assert "symbolic link" in refused(archive, "zip", tmp_path / "area")


def test_encrypted_zip_member_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"secret.txt": b"hidden"})
    raw = bytearray(archive.read_bytes())
    # Python cannot write encrypted zips: set the "encrypted" flag bit in both headers.
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.find(sig)
        raw[at + offset] |= 0x1
    archive.write_bytes(bytes(raw))
    assert "encrypted" in refused(archive, "zip", tmp_path / "area")


def test_too_many_members_is_refused_before_reading(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_members=5)
    archive = make_zip(tmp_path / "a.zip", {f"{n}.txt": b"x" for n in range(6)})
    assert "declares 6 members" in refused(archive, "zip", tmp_path / "area", limits)
    tar = make_tar(tmp_path / "a.tar", "w", [reg(f"{n}.txt", b"x") for n in range(6)])
    assert "more than 5 members" in refused(tar, "tar", tmp_path / "area2", limits)


def test_decompression_bombs_are_refused_by_real_size_and_ratio(tmp_path: Path) -> None:
    zeros = b"\x00" * (4 * 1024 * 1024)
    bomb = make_zip(tmp_path / "bomb.zip", {"a.txt": zeros})
    assert bomb.stat().st_size < 20_000
    by_ratio = ArchiveLimits(max_ratio=50, ratio_floor=1024 * 1024)
    assert "ratio over 50" in refused(bomb, "zip", tmp_path / "area", by_ratio)
    by_size = ArchiveLimits(max_bytes=1024 * 1024)
    assert "more than 1048576 bytes" in refused(bomb, "zip", tmp_path / "area2", by_size)
    tgz = tmp_path / "bomb.tar.gz"
    make_tar(tgz, "w:gz", [reg("a.txt", zeros)])
    assert "ratio" in refused(tgz, "tar.gz", tmp_path / "area3", by_ratio)
    assert sum(p.stat().st_size for p in (tmp_path / "area3").rglob("*")) <= 2 * 1024 * 1024


def test_lying_zip_header_sizes_do_not_fool_the_count(tmp_path: Path) -> None:
    zeros = b"\x00" * (3 * 1024 * 1024)
    archive = make_zip(tmp_path / "a.zip", {"a.txt": zeros})
    raw = bytearray(archive.read_bytes())
    # Claim an uncompressed size of 10 bytes in both headers; the data still inflates to 3 MB.
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.find(sig)
        raw[at + offset : at + offset + 4] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    limits = ArchiveLimits(max_bytes=1024 * 1024)
    with pytest.raises(ArchiveRefused):  # either the real size or the broken CRC stops it
        extract_archive(archive, "zip", tmp_path / "area", limits)


def test_huge_tar_extended_header_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "pax.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("a.txt")
        info.size = 1
        info.pax_headers = {"comment": "x" * (2 * 1024 * 1024)}
        tf.addfile(info, io.BytesIO(b"x"))
    assert "extended header" in refused(archive, "tar", tmp_path / "area")


def test_duplicate_member_names_and_garbage_are_refused(tmp_path: Path) -> None:
    tar = make_tar(tmp_path / "dup.tar", "w", [reg("a.txt", b"1"), reg("./a.txt", b"2")])
    assert "appears twice" in refused(tar, "tar", tmp_path / "area")
    garbage = tmp_path / "g.tar.gz"
    garbage.write_bytes(gzip.compress(os.urandom(2000)))
    assert "cannot be read" in refused(garbage, "tar.gz", tmp_path / "area2")
    notzip = tmp_path / "n.zip"
    notzip.write_bytes(b"PK\x03\x04" + os.urandom(200))
    assert "zip" in refused(notzip, "zip", tmp_path / "area3")


def test_archive_ness_comes_from_a_real_open_and_the_name_not_magic_bytes(tmp_path: Path) -> None:
    text = tmp_path / "note.txt"
    text.write_bytes(b"BZh is how this note starts, and it is only text\n")
    gz_text = tmp_path / "plain.gz"
    gz_text.write_bytes(gzip.compress(b"a gzipped note, no tar inside"))
    nameless = make_tar(tmp_path / "data", "w:bz2", [reg("a.txt", b"hi")])
    pk_text = tmp_path / "pk.txt"
    pk_text.write_bytes(b"PK\x03\x04 looks like a zip, is not")
    named_garbage = tmp_path / "x.tar.bz2"
    named_garbage.write_bytes(b"BZh but no bzip2 stream")
    zipped = make_zip(tmp_path / "photos", {"a.jpg": image_bytes()})

    assert detect_archive("note.txt", text) is None
    assert detect_archive("plain.gz", gz_text) is None
    assert detect_archive("pk.txt", pk_text) is None
    assert detect_archive("data", nameless) == "tar.bz2"  # opens: an archive by content
    assert detect_archive("photos", zipped) == "zip"
    # Named as an archive: it is one, and extraction refuses it for what it is.
    assert detect_archive("x.tar.bz2", named_garbage) == "tar.bz2"
    assert "cannot be read" in refused(named_garbage, "tar.bz2", tmp_path / "area")
