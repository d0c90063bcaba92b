"""The demo's oversized media: an 11-minute video and a 90-megapixel image, and their chunks.

Both are over a reference limit (10 minutes; 85 megapixels), so the ingest stage stores
them whole as pending and the media stage splits the video at keyframes into two chunks
and downscales the image into one; the demo shows what it produced.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.importers.folder import input_id_for
from ingestd.app.runtime import Runtime
from ingestd.cli.options import table

LONG_VIDEO = "videos/long-walk.mp4"
# The oversized file (relative to the samples folder) -> chunks the media stage makes.
EXPECTED_CHUNKS = {LONG_VIDEO: 2, "dogs/huge.png": 1}


def make_long_video(folder: Path) -> None:
    """A tiny but long (660 s) H.264 test pattern: over the 10-minute video limit."""
    path = folder / LONG_VIDEO
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return  # same bytes as last time: the second run finds it unchanged
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=96x64:rate=2:duration=660",
            "-c:v", "libx264", "-g", "20", "-pix_fmt", "yuv420p",
            "-fflags", "+bitexact", "-flags", "+bitexact", "-map_metadata", "-1",
            str(path),
        ],
        check=True,
    )  # fmt: skip


@dataclass
class MediaOutcome:
    """The chunk rows of each oversized input, after the media stage has run."""

    parents: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    chunks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)  # parent id -> chunks

    @property
    def as_expected(self) -> bool:
        return all(len(self.chunks.get(p, [])) == n for p, n in self.expected.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            parent: {
                "status": (row or {}).get("status_code"),
                "chunks": [
                    {k: c[k] for k in ("id", "chunk_index", "start_ms", "end_ms", "size")}
                    | {"width": c["width"], "height": c["height"]}
                    for c in self.chunks.get(parent, [])
                ],
            }
            for parent, row in self.parents.items()
        }


def collect(rt: Runtime, samples: Path) -> MediaOutcome:
    """Wait for the media stage (embedded bus), then read the chunks it wrote."""
    if not rt.kafka_mode:
        rt.bus.join()
    s = rt.settings
    chunks = rt.catalog.chunks
    outcome = MediaOutcome()
    for relpath, count in EXPECTED_CHUNKS.items():
        parent = input_id_for(samples.resolve(), relpath)  # the folder importer's id
        outcome.expected[parent] = count
        outcome.parents[parent] = rt.catalog.get_input(s.user_id, s.app_id, parent)
        outcome.chunks[parent] = chunks.chunks_of(s.user_id, s.app_id, parent)
    return outcome


def print_chunks(outcome: MediaOutcome) -> None:
    rows = []
    for parent, found in outcome.chunks.items():
        for c in found:
            span = (
                f"{c['start_ms'] / 1000:.1f}s-{c['end_ms'] / 1000:.1f}s"
                if c["start_ms"] is not None
                else f"{c['width']}x{c['height']} px"
            )
            rows.append(
                (parent, c["id"], f"{c['chunk_index'] + 1}/{c['chunk_count']}", span, c["size"])
            )
    table(
        "oversized inputs, split by the media stage", ["parent", "chunk", "#", "span", "size"], rows
    )
