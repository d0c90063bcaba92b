"""Splitting oversized media into inputs that fit the upload limits.

One module per medium (video, audio, text, images); each turns a local source file into
`Piece`s — files in a work directory plus where each sits in its parent — and never holds
a whole medium in memory (images excepted: Pillow decodes them whole, under its bomb guard).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Piece:
    """One chunk of a parent medium, written to `path`."""

    path: Path
    format: str  # MP4, WAV, TXT, JPEG, PNG, ...
    extension: str
    index: int
    start_ms: int | None = None
    end_ms: int | None = None
    start_offset: int | None = None  # characters (text) or sample frames (audio)
    end_offset: int | None = None
    first_frame: int | None = None  # video: index of the chunk's first frame in the parent
    width: int | None = None
    height: int | None = None
    box: tuple[int, int, int, int] | None = None  # image tile: left, top, right, bottom (pixels)
    info: dict[str, Any] = field(default_factory=dict)

    def position(self) -> dict[str, Any]:
        """Where this piece sits in its parent, as stored in the chunk's metadata."""
        keys = ("start_ms", "end_ms", "start_offset", "end_offset", "first_frame")
        out: dict[str, Any] = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        if self.box is not None:
            left, top, right, bottom = self.box
            out["box"] = {"left": left, "top": top, "right": right, "bottom": bottom}
        return out


@dataclass
class Split:
    """What a splitter produced: the pieces in order, how, and notes for the parent."""

    pieces: list[Piece]
    mode: str
    notes: dict[str, Any] = field(default_factory=dict)
