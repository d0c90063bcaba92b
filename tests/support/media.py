"""Real media for the media-stage tests: ffmpeg-generated videos, WAV files, images."""

from __future__ import annotations

import atexit
import functools
import io
import math
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

from PIL import Image

_CACHE = Path(tempfile.mkdtemp(prefix="ingestd-test-media-"))
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


def _lavfi(source: str) -> list[str]:
    """ffmpeg, quiet and overwriting, reading a generated lavfi source."""
    return ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source]


@functools.cache
def video_file(
    seconds: float = 6.0,
    size: str = "320x240",
    rate: int = 25,
    gop: int = 25,
    container: str = "mp4",
    audio: bool = True,
) -> Path:
    """testsrc (+ a sine tone), H.264 with a keyframe every `gop` frames; cached per session."""
    name = f"v-{seconds}-{size}-{rate}-{gop}-{audio}.{container}"
    out = _CACHE / name
    cmd = _lavfi(f"testsrc=size={size}:rate={rate}:duration={seconds}")
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    codec = ["-c:v", "libx264", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    if container == "avi":
        codec = ["-c:v", "mpeg4", "-g", str(gop), "-q:v", "5"]
    cmd += codec + ["-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac" if container != "avi" else "mp3", "-shortest"]
    cmd.append(str(out))
    subprocess.run(cmd, check=True)
    return out


def video_bytes(**kw: object) -> bytes:
    return video_file(**kw).read_bytes()  # type: ignore[arg-type]


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return float(out)


def wav_bytes(seconds: float = 1.0, rate: int = 8000, channels: int = 1, width: int = 2) -> bytes:
    """A WAV whose every sample frame is its own index, so cuts can be checked exactly."""
    buf = io.BytesIO()
    frames = int(seconds * rate)
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        mod = 2 ** (8 * width - 1)
        w.writeframes(
            b"".join((n % mod).to_bytes(width, "little") * channels for n in range(frames))
        )
    return buf.getvalue()


def mp3_bytes(seconds: float = 2.0) -> bytes:
    out = _CACHE / f"a-{seconds}.mp3"
    if not out.exists():
        tone = _lavfi(f"sine=frequency=440:sample_rate=22050:duration={seconds}")
        subprocess.run([*tone, "-c:a", "libmp3lame", "-b:a", "64k", str(out)], check=True)
    return out.read_bytes()


def gradient_image(size: tuple[int, int], fmt: str = "PNG", orientation: int = 1) -> bytes:
    """Pixels that tell where they are (x and y in the red and green channels)."""
    width, height = size
    img = Image.new("RGB", size)
    img.putdata(
        [
            (x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), 80)
            for y in range(height)
            for x in range(width)
        ]
    )
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    img.save(buf, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def close(a: float, b: float, tol: float) -> bool:
    return math.isclose(a, b, abs_tol=tol)
