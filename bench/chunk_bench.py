"""Splitting an oversized video (and WAV) into chunks under the limits, versus the ffmpeg
command a user would type for the same cuts and `cp` of the file.

    .venv/bin/python bench/chunk_bench.py [--seconds 12] [--rounds 3] [--cache DIR]

Generates (once, cached) a video of at least 300 MB (ffmpeg testsrc with noise, H.264 at a
high bitrate, AAC) and a WAV of about 400 MB, then times, alternating in each round, `cp`
of the file, ingestd's split into chunks under the default limits (128 MB video, 20 MB
WAV), `ffmpeg -i in.mp4 -c copy -f segment -segment_times <ingestd's cuts> out%03d.mp4`
(video) and `dd bs=1M` of the file. ingestd's video split plans from the MP4 index (no
packet pass) and stream-copies in one ffmpeg pass; the WAV split parses RIFF and copies in
the kernel. (coreutils `cp` copies inside the kernel with copy_file_range; `dd` shows a
copy through user space, as any remuxer must do.) Each split runs in a fresh child process,
which reports its own peak RSS and that of the ffmpeg/ffprobe processes it ran. The best
round of each is compared. Goals: video split >= 0.8 of the plain ffmpeg command, WAV
split >= 0.5 of cp, peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.limits import Limits  # noqa: E402
from pipeline.media.chunking.audio import split_wav  # noqa: E402
from pipeline.media.chunking.video import split_video  # noqa: E402

MB = 1024 * 1024


def make_video(cache: Path, seconds: int) -> Path:
    out = cache / f"bench-{seconds}s.mp4"
    if out.exists() and out.stat().st_size >= 300 * MB:
        return out
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc=size=1280x720:rate=30:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-vf", "noise=alls=40:allf=t",  # noise: a high bitrate, as a camera would give
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "8", "-g", "60",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out),
        ],
        check=True,
    )  # fmt: skip
    if out.stat().st_size < 300 * MB:
        raise SystemExit(f"{out} is only {out.stat().st_size / MB:.0f} MB; raise --seconds")
    return out


def make_wav(cache: Path, seconds: int) -> Path:
    out = cache / f"bench-{seconds}s.wav"
    if not out.exists():
        subprocess.run(
            [
                "ffmpeg", "-nostdin", "-v", "error", "-y",
                "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                "-ac", "2", "-c:a", "pcm_s16le", str(out),
            ],
            check=True,
        )  # fmt: skip
    return out


def time_copy(src: Path, work: Path, how: str = "cp") -> float:
    """`cp` (coreutils: copy_file_range, copied inside the kernel) or `dd bs=1M` (read/write)."""
    dst = work / "copy"
    cmd = ["cp", str(src), str(dst)]
    if how == "dd":
        cmd = ["dd", f"if={src}", f"of={dst}", "bs=1M", "status=none"]
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    elapsed = time.perf_counter() - started
    dst.unlink()
    return elapsed


def time_segment(src: Path, work: Path, cuts: list[float]) -> float:
    """The command a user would type for the same cuts (ffmpeg's default stream choice)."""
    out = work / "plain"
    out.mkdir()
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-c", "copy", "-f", "segment"]
    cmd += ["-segment_times", ",".join(f"{c:.3f}" for c in cuts)] if cuts else []
    started = time.perf_counter()
    try:
        subprocess.run([*cmd, str(out / "out%03d.mp4")], check=True)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(out)


def time_split(kind: str, src: Path, work: Path) -> dict[str, Any]:
    """Run one split in a fresh process so its peak RSS is its own."""
    out = work / "chunks"
    out.mkdir()
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(src), str(out)],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        shutil.rmtree(out)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def child(kind: str, src: Path, out: Path) -> None:
    limits = Limits()
    started = time.perf_counter()
    split = split_video(src, "MP4", out, limits) if kind == "video" else split_wav(src, out, limits)
    elapsed = time.perf_counter() - started
    sizes = [p.path.stat().st_size for p in split.pieces]
    limit = limits.video_bytes if kind == "video" else limits.audio_bytes
    assert all(s < limit for s in sizes), sizes
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tools_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "chunks": len(sizes),
                "largest": max(sizes),
                "self_mb": self_kb / 1024,
                "tools_mb": tools_kb / 1024,
                "cuts": [(p.start_ms or 0) / 1000 for p in split.pieces[1:]],
            }
        )
    )


def compare(kind: str, src: Path, work: Path, rounds: int) -> None:
    size = src.stat().st_size
    time_copy(src, work)  # warm the page cache for both sides alike
    cps, dds, splits, plains = [], [], [], []
    for _ in range(rounds):
        cps.append(time_copy(src, work))
        splits.append(time_split(kind, src, work))
        if kind == "video":
            plains.append(time_segment(src, work, splits[-1]["cuts"]))
        dds.append(time_copy(src, work, "dd"))
    best_cp, best_dd = min(cps), min(dds)
    best = min(splits, key=lambda r: r["seconds"])
    peak_self = max(r["self_mb"] for r in splits)
    peak_tools = max(r["tools_mb"] for r in splits)
    print(f"{kind}: {src.name}, {size / MB:.0f} MB -> {best['chunks']:.0f} chunks")
    print(f"  cp             : {size / MB / best_cp:8.1f} MB/s  ({best_cp:.2f} s)")
    print(f"  ingestd split  : {size / MB / best['seconds']:8.1f} MB/s  ({best['seconds']:.2f} s)")
    if plains:
        best_plain = min(plains)
        print(f"  ffmpeg segment : {size / MB / best_plain:8.1f} MB/s  ({best_plain:.2f} s)")
        print(f"  ratio split/ffmpeg segment : {best_plain / best['seconds']:.2f}  (goal >= 0.8)")
    print(f"  dd bs=1M       : {size / MB / best_dd:8.1f} MB/s  ({best_dd:.2f} s)")
    goal = "" if plains else "  (goal >= 0.5)"
    print(f"  ratio split/cp : {best_cp / best['seconds']:.2f}{goal}")
    print(f"  ratio split/dd : {best_dd / best['seconds']:.2f}  (a copy through user space)")
    print(
        f"  peak RSS       : {peak_self:.0f} MB ingestd process, {peak_tools:.0f} MB largest "
        f"ffmpeg/ffprobe child; {peak_self + peak_tools:.0f} MB together (goal < 200 MB)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=12, help="Video length (>= 300 MB).")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ingestd-bench")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    video = make_video(args.cache, args.seconds)
    wav = make_wav(args.cache, 2200)  # ~400 MB of 48 kHz stereo PCM
    with tempfile.TemporaryDirectory(dir=args.cache) as tmp:
        compare("video", video, Path(tmp), args.rounds)
        compare("audio", wav, Path(tmp), args.rounds)


if __name__ == "__main__":
    from report import peak_memory_line

    main()
    if "--child" not in sys.argv:  # a child's one line is the JSON its parent reads
        print(peak_memory_line())
