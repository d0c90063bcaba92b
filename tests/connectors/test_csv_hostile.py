"""The CSV lister on hostile files: paths leaving their folder, swapped links, wide headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from connectors.importers.csv_rows import CsvHeaderError, iter_csv_items
from pipeline.status import StatusCode
from tests.support.csv_files import failed, ok, write_csv


def test_local_paths_stay_under_the_csv_folder_or_the_base_dir(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("TOP SECRET")
    data = tmp_path / "data"
    (data / "imgs").mkdir(parents=True)
    Image.new("RGB", (8, 6), "orange").save(data / "imgs" / "cat.jpg", "JPEG")
    (data / "out.txt").symlink_to(secret)
    (data / "in.txt").symlink_to("imgs/../note.txt")
    (data / "note.txt").write_text("a note")
    (data / "empty.jpg").write_bytes(b"")
    path = write_csv(
        data / "in.csv",
        [
            ["input"],
            ["../outside/secret.txt"],
            [str(secret)],
            ["/proc/self/environ"],
            ["/etc/passwd"],
            ["out.txt"],
            ["empty.jpg"],
            ["imgs/cat.jpg"],
            [str(data / "imgs" / "cat.jpg")],  # absolute, but inside: fine
            ["in.txt"],
        ],
    )
    items = list(iter_csv_items(path))
    for item in items[:5]:
        msg = failed(item, StatusCode.INPUT_PERMISSION_DENIED)
        assert "outside" in msg or "special filesystem" in msg
    assert "empty" in failed(items[5], StatusCode.INPUT_INVALID_ARGUMENT)
    assert all(ok(i).data.image is not None for i in items[6:8])
    assert ok(items[8]).data.text is not None

    # A base folder named explicitly widens what may be read, and nothing more.
    wider = list(iter_csv_items(path, base_dir=tmp_path))
    text = ok(wider[0]).data.text
    assert text is not None and text.base64 == b"TOP SECRET"
    failed(wider[2], StatusCode.INPUT_PERMISSION_DENIED)
    failed(wider[3], StatusCode.INPUT_PERMISSION_DENIED)


def test_a_link_swapped_in_between_check_and_open_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.importers import local_paths

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text("TOP SECRET")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.txt").write_text("fine")
    (root / "g.txt").write_text("fine")
    resolve = local_paths.resolve_under

    def swap_after_check(base: Path, name: str, *args: object):  # the race, made certain
        checked = resolve(base, name, *args)  # type: ignore[arg-type]
        if name == "sub/f.txt":
            (root / "sub").rename(root / "sub-old")
            (root / "sub").symlink_to(outside)
        else:
            (root / "g.txt").unlink()
            (root / "g.txt").symlink_to(outside / "f.txt")
        return checked

    monkeypatch.setattr(local_paths, "resolve_under", swap_after_check)
    for name in ("sub/f.txt", "g.txt"):
        with pytest.raises(local_paths.LocalPathRefused) as refused:
            local_paths.read_local_file(root, name)
        assert refused.value.code is StatusCode.INPUT_PERMISSION_DENIED


def test_a_header_wider_than_any_template_is_refused_with_39999(tmp_path: Path) -> None:
    many = tmp_path / "many.csv"
    many.write_text(",".join(f"input.data.concepts[{i}].id" for i in range(3000)) + "\nx\n")
    huge = tmp_path / "huge.csv"
    huge.write_text(",".join("c" for _ in range(1_000_000)) + "\nx\n")
    long_name = tmp_path / "long.csv"
    long_name.write_text("x" * 1_000_000 + "\nx\n")
    for path in (many, huge, long_name):
        with pytest.raises(CsvHeaderError) as refused:
            list(iter_csv_items(path))
        assert refused.value.code is StatusCode.INPUT_INVALID_REQUEST
        assert "header" in refused.value.message and path.name in refused.value.message
    assert "3000 columns" in str(pytest.raises(CsvHeaderError, list, iter_csv_items(many)).value)
