"""Text over the limit: chunks by characters, cut at paragraph or sentence ends where possible.

The file is read as a stream through a window of about two chunks, so memory is bounded
by the chunk size, not the text. Offsets count characters (code points) in the parent.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pipeline.errors import InputError
from pipeline.limits import Limits
from pipeline.media.chunking import Piece, Split
from pipeline.status import StatusCode

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE = re.compile(r"[.!?\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*\s+")
_SPACE = re.compile(r"\s+")
_READ = 1 << 20  # characters per read


@dataclass(frozen=True)
class TextSpan:
    start: int  # character offsets in the parent, end exclusive
    end: int
    text: str


def best_cut(window: str, floor: int) -> int:
    """Where to end a chunk inside `window`: after a paragraph, else a sentence, else a space.

    Only cuts at or after `floor` count, so chunks stay near the wanted size; with none
    there, the window is cut hard at its end.
    """
    for pattern in (_PARAGRAPH, _SENTENCE, _SPACE):
        last = None
        for match in pattern.finditer(window, floor):
            last = match
        if last is not None and last.end() > floor:
            return last.end()
    return len(window)


def next_start(window: str, cut: int, overlap: int) -> int:
    """Where the next chunk starts: `overlap` characters back, moved to a word's start."""
    if overlap <= 0:
        return cut
    start = max(1, cut - overlap)
    space = _SPACE.search(window, start, cut)
    return space.end() if space is not None and space.end() < cut else start


def iter_spans(
    stream: TextIO, chunk_chars: int, overlap: int, max_bytes: int
) -> Iterator[TextSpan]:
    """Chunks of at most `chunk_chars` characters and under `max_bytes` as UTF-8."""
    overlap = min(overlap, chunk_chars // 2)  # every chunk must move the text forward
    buffer, offset, done = "", 0, False
    while True:
        while not done and len(buffer) < chunk_chars + 1:
            block = stream.read(_READ)
            done = not block
            buffer += block
        if not buffer:
            return
        if done and len(buffer) <= chunk_chars and _fits(buffer, max_bytes):
            yield TextSpan(offset, offset + len(buffer), buffer)
            return
        window = _shrink_to_bytes(buffer[:chunk_chars], max_bytes)
        cut = best_cut(window, len(window) // 2)
        yield TextSpan(offset, offset + cut, window[:cut])
        start = next_start(window, cut, overlap)
        buffer, offset = buffer[start:], offset + start


def _fits(text: str, max_bytes: int) -> bool:
    return len(text.encode("utf-8")) < max_bytes


def _shrink_to_bytes(window: str, max_bytes: int) -> str:
    while len(window) > 1 and not _fits(window, max_bytes):
        size = len(window.encode("utf-8"))
        window = window[: max(1, int(len(window) * (max_bytes - 1) / size) - 1)]
    return window


def check_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8, reading it in blocks (never whole)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    done = 0
    with path.open("rb") as fh:
        while block := fh.read(_READ):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise InputError(
                    StatusCode.INPUT_UNSUPPORTED_FORMAT,
                    f"text is not valid UTF-8 (byte {done + exc.start}); save it as UTF-8",
                ) from None
            done += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise InputError(
                StatusCode.INPUT_UNSUPPORTED_FORMAT, "text ends inside a UTF-8 character"
            ) from None


def split_text(src: Path, out_dir: Path, limits: Limits) -> Split:
    """Text chunks, each a file of UTF-8 under the text byte limit, with character offsets."""
    check_utf8(src)
    chunk_chars = limits.text_chunk_chars or limits.text_bytes - 1
    pieces: list[Piece] = []
    with src.open(encoding="utf-8", newline="") as stream:
        for index, span in enumerate(
            iter_spans(stream, chunk_chars, limits.text_overlap_chars, limits.text_bytes)
        ):
            path = out_dir / f"{index:05d}.txt"
            path.write_text(span.text, encoding="utf-8", newline="")
            pieces.append(
                Piece(
                    path=path,
                    format="TXT",
                    extension="txt",
                    index=index,
                    start_offset=span.start,
                    end_offset=span.end,
                )
            )
    notes = {"chunk_chars": chunk_chars, "overlap_chars": limits.text_overlap_chars}
    return Split(pieces, "text", notes)
