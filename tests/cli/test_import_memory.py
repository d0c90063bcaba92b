"""Large media are streamed end to end: a folder import of a 300 MB video and a CSV naming a
300 MB URL both stay under the memory ceiling, whatever the file's size.

Each import runs `ingestd import ...` in a fresh interpreter that reports its own peak
resident memory (VmHWM). The video is raw RGB frames in a MOV (cheap to make, a valid
video that passes every check): 54 s, about 297 MB, under the URL limit of 300 MB and over
the 128 MB limit for videos sent as bytes, so the folder import also splits it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.web import serving_folder

CEILING_MB = 300
ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
from pathlib import Path
from ingestd.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
# VmHWM: this interpreter's own peak (ru_maxrss would carry the parent's over exec)
status = Path("/proc/self/status").read_text()
print(json.dumps({"peak_mb": int(status.split("VmHWM:")[1].split()[0]) / 1024}))
"""


@pytest.fixture(scope="module")
def big_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("big") / "media" / "long.mov"
    out.parent.mkdir()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", "testsrc=size=320x240:rate=25", "-t", "54",
         "-c:v", "rawvideo", "-pix_fmt", "rgb24", str(out)],
        check=True, timeout=120,
    )  # fmt: skip
    assert out.stat().st_size > 290 * 2**20
    return out


@pytest.fixture
def web(big_video: Path) -> Iterator[str]:
    with serving_folder(big_video.parent) as url:
        yield url


def run_import(tmp_path: Path, *args: str) -> tuple[dict, float]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "INGESTD_CATALOG": f"sqlite:///{tmp_path}/catalog.db",
        "INGESTD_BLOBS": f"file://{tmp_path}/blobs",
        "INGESTD_FETCH_ALLOW": '["127.0.0.1"]',
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "import", *args, "--json",
         "--report", str(tmp_path / "report.jsonl")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=True,
    )  # fmt: skip
    *summary, last = done.stdout.strip().splitlines()
    return json.loads("\n".join(summary)), json.loads(last)["peak_mb"]


def test_folder_import_of_a_large_video_in_bounded_memory(
    tmp_path: Path, big_video: Path
) -> None:
    summary, peak = run_import(tmp_path, "folder", str(big_video.parent))
    assert summary["actions"] == {"created": 1}, summary
    assert summary["codes"] == {"30000 INPUT_SUCCESS": 1}, summary  # stored, and split
    chunks = list((tmp_path / "blobs" / "chunks").rglob("*.mov"))
    assert len(chunks) >= 3  # over the 128 MB limit for videos sent as bytes
    assert peak < CEILING_MB, f"peak {peak:.0f} MB"


def test_csv_naming_a_large_url_in_bounded_memory(
    tmp_path: Path, big_video: Path, web: str
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(f"inputid,input\nlong,{web}/{big_video.name}\n")
    summary, peak = run_import(tmp_path, "csv", str(rows))
    assert summary["actions"] == {"created": 1}, summary
    (stored,) = (tmp_path / "blobs" / "media").rglob("*.mov")
    assert stored.stat().st_size == big_video.stat().st_size
    assert peak < CEILING_MB, f"peak {peak:.0f} MB"
