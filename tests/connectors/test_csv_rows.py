"""The CSV lister on real files: both layouts, every per-row error, ids, keys, TSV, headers."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from PIL import Image

from connectors.importers.csv_rows import URL_SIZE, iter_csv_items
from pipeline.models import MediaType
from pipeline.status import StatusCode
from tests.support.csv_files import TEMPLATE, failed, ok, parse, raw_text, write_csv


@pytest.fixture
def jpeg(tmp_path: Path) -> Path:
    (tmp_path / "imgs").mkdir()
    path = tmp_path / "imgs" / "cat.jpg"
    Image.new("RGB", (8, 6), "orange").save(path, "JPEG")
    return path


def test_template_layout(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "t.csv",
        [
            TEMPLATE,
            [
                "img1",
                "https://example.com/a.jpg",
                "",
                "cat",
                "1",
                "dog",
                "0",
                '{"a": 1, "tags": ["x"]}',
                "48.85",
                "2.35",
            ],
            ["", "", "hello, world", "cat", "", "", "", "", "", ""],
        ],
    )
    items = parse(path, metadata={"batch": 3, "a": 0})
    assert list(items) == ["t.csv:2", "t.csv:3"]
    image = ok(items["t.csv:2"])
    assert image.id == "img1"
    assert image.data.image is not None and image.data.image.url == "https://example.com/a.jpg"
    assert [(c.id, c.value) for c in image.data.concepts] == [("cat", 1.0), ("dog", 0.0)]
    assert image.data.metadata == {"batch": 3, "a": 1, "tags": ["x"]}  # the row's keys win
    assert image.data.geo is not None
    assert (image.data.geo.geo_point.latitude, image.data.geo.geo_point.longitude) == (48.85, 2.35)
    assert items["t.csv:2"].size == URL_SIZE

    text = ok(items["t.csv:3"])
    assert text.data.text is not None and text.data.text.raw == "hello, world"
    assert [(c.id, c.value) for c in text.data.concepts] == [("cat", 1.0)]  # empty value = 1
    assert text.data.metadata == {"batch": 3, "a": 0}
    assert text.data.geo is None
    assert text.id and len(text.id) == 32  # derived
    assert items["t.csv:3"].size == len("hello, world")


def test_template_extra_media_columns(tmp_path: Path) -> None:
    b64 = base64.b64encode(b"\xff\xd8\xff" + b"0" * 93).decode()
    path = write_csv(
        tmp_path / "m.csv",
        [
            ["input.data.video.url", "input.data.audio.url", "input.data.image.base64"],
            ["https://example.com/v.mp4", "", ""],
            ["", "https://example.com/a.wav", ""],
            ["", "", b64],
        ],
    )
    video, audio, image = (ok(i) for i in iter_csv_items(path))
    assert video.data.media()[0] is MediaType.VIDEO
    assert audio.data.media()[0] is MediaType.AUDIO
    assert image.data.image is not None and image.data.image.base64 == base64.b64decode(b64)
    assert list(iter_csv_items(path))[2].size == 96


def test_simple_layout(tmp_path: Path, jpeg: Path) -> None:
    path = write_csv(
        tmp_path / "s.csv",
        [
            ["inputid", "input", "concepts", "metadata", "geopoints"],
            ["t1", "a cat on a mat", "a|b", '{"k": "v"}', "10.5,-20.25"],
            ["", "https://example.com/clip.mp4", "a;b,c", "", "10.5 -20.25"],
            ["", "https://example.com/picture?size=2", "", "", ""],
            ["", "https://example.com/notes.txt", "", "", ""],
            ["", "imgs/cat.jpg", "a|b|a", "", ""],
            ["", "./imgs/cat.jpg", "", "", ""],
            ["", str(jpeg), "", "", ""],
        ],
    )
    items = list(iter_csv_items(path, metadata={"src": "test"}))
    assert len(items) == 7
    text = ok(items[0])
    assert text.id == "t1"
    assert text.data.text is not None and text.data.text.raw == "a cat on a mat"
    assert [c.id for c in text.data.concepts] == ["a", "b"]
    assert text.data.metadata == {"src": "test", "k": "v"}
    assert text.data.geo is not None and text.data.geo.geo_point.longitude == -20.25
    assert items[0].size == len("a cat on a mat")

    video = ok(items[1])
    assert video.data.video is not None and video.data.video.url == "https://example.com/clip.mp4"
    assert [c.id for c in video.data.concepts] == ["a", "b", "c"]
    assert video.data.geo is not None and video.data.geo.geo_point.latitude == 10.5
    assert ok(items[2]).data.image is not None  # no extension: an image
    notes = ok(items[3]).data.text
    assert notes is not None and notes.url == "https://example.com/notes.txt"
    assert items[1].size == URL_SIZE

    raw = jpeg.read_bytes()
    for item in items[4:]:
        image = ok(item)
        assert image.data.image is not None and image.data.image.base64
        assert image.data.image.base64 == raw
        assert item.size == len(raw)
    assert [c.id for c in ok(items[4]).data.concepts] == ["a", "b"]


def test_input_type_forced(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "f.csv",
        [
            ["input"],
            ["https://example.com/thing"],
            ["just words"],
        ],
    )
    as_video = list(iter_csv_items(path, input_type="video"))
    assert ok(as_video[0]).data.video is not None
    assert "just words" in failed(as_video[1], StatusCode.INPUT_DOES_NOT_EXIST)
    as_text = list(iter_csv_items(path, input_type="text"))
    text_url = ok(as_text[0]).data.text
    assert text_url is not None and text_url.url == "https://example.com/thing"
    words = ok(as_text[1]).data.text
    assert words is not None and words.raw == "just words"
    with pytest.raises(ValueError, match="input type"):
        list(iter_csv_items(path, input_type="pdf"))


def test_template_errors_and_good_rows_continue(tmp_path: Path) -> None:
    long_concept = "c" * 300
    path = write_csv(
        tmp_path / "e.csv",
        [
            TEMPLATE,
            ["good1", "https://example.com/1.jpg", "", "", "", "", "", "", "", ""],
            ["", "https://example.com/2.jpg", "", "", ""],  # too short
            ["", "https://example.com/3.jpg", "", "", "", "", "", "{not json", "", ""],
            ["", "https://example.com/4.jpg", "", "", "", "", "", "[1, 2]", "", ""],
            ["", "https://example.com/5.jpg", "", "cat", "2", "", "", "", "", ""],
            ["", "https://example.com/6.jpg", "", "", "", "", "", "", "north", "2"],
            ["", "https://example.com/7.jpg", "", "", "", "", "", "", "91", "2"],
            ["", "", "", "cat", "1", "", "", "", "", ""],  # no data
            ["", "https://example.com/9.jpg", "and text", "", "", "", "", "", "", ""],
            ["../etc/passwd", "https://example.com/10.jpg", "", "", "", "", "", "", "", ""],
            ["", "https://example.com/11.jpg", "", long_concept, "1", "", "", "", "", ""],
            ["", "https://example.com/12.jpg", "", "", "", "", "", '{"x": NaN}', "", ""],
            ["", "https://example.com/13.jpg", "", "", "", "", "", "", "10", ""],
            ["good2", "", "fine", "", "", "", "", "", "", ""],
        ],
    )
    items = parse(path)
    assert len(items) == 14
    assert ok(items["e.csv:2"]).id == "good1"
    assert ok(items["e.csv:15"]).id == "good2"
    assert "5 cells" in failed(items["e.csv:3"], StatusCode.INPUT_INVALID_REQUEST)
    msg = failed(items["e.csv:4"], StatusCode.METADATA_PARSING_ISSUE)
    assert "input.data.metadata" in msg and "{not json" in msg
    assert "JSON object" in failed(items["e.csv:5"], StatusCode.INPUT_INVALID_ARGUMENT)
    msg = failed(items["e.csv:6"], StatusCode.INPUT_INVALID_ARGUMENT)
    assert "input.data.concepts[0].value" in msg and "'2'" in msg
    msg = failed(items["e.csv:7"], StatusCode.INPUT_INVALID_ARGUMENT)
    assert "latitude" in msg and "north" in msg
    assert "'91'" in failed(items["e.csv:8"], StatusCode.INPUT_INVALID_ARGUMENT)
    assert "all are empty" in failed(items["e.csv:9"], StatusCode.INPUT_INVALID_REQUEST)
    msg = failed(items["e.csv:10"], StatusCode.INPUT_INVALID_REQUEST)
    assert "input.data.image.url, input.data.text.raw" in msg
    bad_id = items["e.csv:11"]
    msg = failed(bad_id, StatusCode.INPUT_INVALID_ARGUMENT)
    assert "input.id" in msg and "../etc/passwd" in msg and bad_id.input_id is None
    msg = failed(items["e.csv:12"], StatusCode.INPUT_INVALID_ARGUMENT)  # pydantic
    assert "Concept.id" in msg and "256" in msg
    assert "c" * 57 + "..." in msg and long_concept not in msg
    assert "NaN" in failed(items["e.csv:13"], StatusCode.METADATA_PARSING_ISSUE)
    msg = failed(items["e.csv:14"], StatusCode.INPUT_INVALID_ARGUMENT)
    assert "longitude" in msg
    for key, item in items.items():  # derived ids are known even for failed rows, bad id aside
        assert item.input_id or key == "e.csv:11"


def test_simple_errors(tmp_path: Path, jpeg: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02\x03" * 8)
    path = write_csv(
        tmp_path / "e.csv",
        [
            ["input", "concepts", "metadata", "geopoints"],
            ["missing/dog.jpg", "", "", ""],
            ["./imgs", "", "", ""],
            ["/dev/null", "", "", ""],
            ["s3://bucket/x.jpg", "", "", ""],
            ["   ", "a", "", ""],
            ["blob.bin", "", "", ""],
            ["text", "", '"a string"', ""],
            ["text", "", "", "1,2,3"],
            ["text", "", "", "1,200"],
            ["imgs/cat.jpg", "", "", ""],
        ],
    )
    items = list(iter_csv_items(path))
    assert len(items) == 10
    msg = failed(items[0], StatusCode.INPUT_DOES_NOT_EXIST)
    assert "missing/dog.jpg" in msg and str(tmp_path) in msg
    assert "regular file" in failed(items[1], StatusCode.INPUT_INVALID_ARGUMENT)
    assert "/dev/null" in failed(items[2], StatusCode.INPUT_PERMISSION_DENIED)
    assert "s3://" in failed(items[3], StatusCode.INPUT_INVALID_URL)
    assert "input" in failed(items[4], StatusCode.INPUT_INVALID_REQUEST)
    assert "blob.bin" in failed(items[5], StatusCode.INPUT_UNSUPPORTED_FORMAT)
    assert "metadata" in failed(items[6], StatusCode.INPUT_INVALID_ARGUMENT)
    assert "1,2,3" in failed(items[7], StatusCode.INPUT_INVALID_ARGUMENT)
    assert "'200'" in failed(items[8], StatusCode.INPUT_INVALID_ARGUMENT)
    assert ok(items[9]).data.image is not None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    path = write_csv(tmp_path / "p.csv", [["input"], ["pipe.txt"]])
    (item,) = iter_csv_items(path)
    assert "pipe.txt" in failed(item, StatusCode.INPUT_INVALID_ARGUMENT)


def test_bare_word_matching_a_directory_is_text(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    path = write_csv(tmp_path / "w.csv", [["input"], ["notes"]])
    (item,) = iter_csv_items(path)
    text = ok(item).data.text
    assert text is not None and text.raw == "notes"


def test_ids_are_deterministic_and_survive_inserted_rows(tmp_path: Path) -> None:
    rows = [["input", "concepts"], ["first", "a"], ["second", "b"], ["third", ""]]
    path = write_csv(tmp_path / "d.csv", rows)
    ids = [i.input_id for i in iter_csv_items(path)]
    assert ids == [i.input_id for i in iter_csv_items(path)]
    assert len(set(ids)) == 3 and all(ids)

    write_csv(path, [rows[0], ["inserted", "z"], *rows[1:]])
    after = list(iter_csv_items(path))
    assert [i.input_id for i in after[1:]] == ids
    assert [i.key for i in after] == ["d.csv:2", "d.csv:3", "d.csv:4", "d.csv:5"]
    # the id belongs to the file name too: the same rows elsewhere are other inputs
    other = write_csv(tmp_path / "other.csv", rows)
    assert [i.input_id for i in iter_csv_items(other)][0] != ids[0]


def test_keys_filter(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "k.csv", [["input"], ["a"], ["b"], ["c"], ["d"]])
    items = list(iter_csv_items(path, keys={"k.csv:3", "k.csv:5", "other.csv:2"}))
    assert [(i.key, raw_text(i)) for i in items] == [("k.csv:3", "b"), ("k.csv:5", "d")]
    assert list(iter_csv_items(path, keys=set())) == []


def test_tsv(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "t.tsv",
        [
            ["input", "concepts", "geopoints"],
            ["tab, separated text", "x,y", "1,2"],
        ],
        delimiter="\t",
    )
    (item,) = iter_csv_items(path)
    data = ok(item).data
    assert data.text is not None and data.text.raw == "tab, separated text"
    assert [c.id for c in data.concepts] == ["x", "y"]


def test_bom_blank_lines_and_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(
        '\ufeffinput,concepts\r\none,a\r\n\r\n,,\r\n"two\r\nlines",b\r\nthree,c\r\n'.encode()
    )
    items = parse(path)
    assert list(items) == ["b.csv:2", "b.csv:5", "b.csv:7"]  # a row's key is its first line
    assert raw_text(items["b.csv:5"]) == "two\r\nlines"


def test_unclosed_quote_is_a_wrong_cell_count(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('input,concepts\nfine,a\n"never closed,a\nmore,b\n')
    items = list(iter_csv_items(path))
    assert raw_text(items[0]) == "fine"
    assert [i.key for i in items] == ["q.csv:2", "q.csv:3"]
    assert "1 cells" in failed(items[1], StatusCode.INPUT_INVALID_REQUEST)


def test_a_row_that_is_not_utf8_fails_alone(tmp_path: Path) -> None:
    # The bad row sits in the first read chunk: it was blamed on the header and no row was
    # read; further down it ended the import there.
    path = tmp_path / "u.csv"
    path.write_bytes(
        b"inputid,input\na,fine\nb,caf\xe9 au lait\n" + b"c,fine\n" * 5000 + b"d,\xff\xfe\n"
    )
    items = list(iter_csv_items(path))
    assert len(items) == 5003
    failed = {i.key: i.error for i in items if i.error is not None}
    assert set(failed) == {"u.csv:3", "u.csv:5004"}
    for error in failed.values():
        assert error.code is StatusCode.INPUT_INVALID_REQUEST and "UTF-8" in error.message
    assert "caf\ufffd au lait" in failed["u.csv:3"].message


@pytest.mark.parametrize(
    "header, expected",
    [
        (["url", "label"], "unknown column(s) 'url', 'label'"),
        (["input.data.image.url", "input.data.colour"], "'input.data.colour'"),
        (["input.id", "input.data.metadata"], "no data column"),
        (["input", "label"], "'label'"),
        (["input", "input"], "repeats"),
        (["input.data.text.raw", "input.data.concepts[0].value"], "paired"),
        (["input.data.text.raw", "input.data.geo.geo_point.latitude"], "paired"),
    ],
)
def test_header_matching_neither_layout_raises(
    tmp_path: Path, header: list[str], expected: str
) -> None:
    path = write_csv(tmp_path / "h.csv", [header, ["x"] * len(header)])
    with pytest.raises(ValueError) as exc:
        list(iter_csv_items(path))
    assert expected in str(exc.value)
    if "repeats" not in expected and "paired" not in expected:
        assert "input.data.image.url" in str(exc.value)
        assert "inputid,input,concepts,metadata,geopoints" in str(exc.value)


def test_empty_or_undecodable_header_raises(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValueError, match="header"):
        list(iter_csv_items(path))
    path.write_bytes(b"\xffinput\nx\n")
    with pytest.raises(ValueError, match="UTF-8"):
        list(iter_csv_items(path))
