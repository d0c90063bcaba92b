"""Untrusted media: playlists, references, truncation, lying headers, hangs: clear statuses."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from ingestd.app.runtime import Runtime
from pipeline.errors import InputError
from pipeline.events import UploadRequest
from pipeline.limits import Limits
from pipeline.media.chunking.ffmpeg_run import ToolFailed, input_args, run_tool
from pipeline.media.chunking.probe import VIDEO_CODES, probe_media
from pipeline.media.chunking.scan import probe_and_scan
from pipeline.models import Data, Input, Media
from pipeline.status import StatusCode
from tests.support.media import video_bytes, video_file, wav_bytes
from tests.support.storage import image_bytes

SECRET = "ingestd-secret-marker"


def video_input(input_id: str, data: bytes) -> Input:
    return Input(id=input_id, data=Data(video=Media(base64=data)))


def faststart(tmp_path: Path) -> bytes:
    """The test video with its index first, so a truncated copy still opens."""
    import subprocess

    out = tmp_path / "fast.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(video_file(seconds=6.0)),
         "-c", "copy", "-movflags", "+faststart", str(out)],
        check=True,
    )  # fmt: skip
    return out.read_bytes()


def patch_durations(data: bytes, factor: int) -> bytes:
    """Multiply the durations in mvhd/tkhd/mdhd (version 0 boxes) by `factor` (0: zero them)."""
    out = bytearray(data)
    for box, skip in ((b"mvhd", 16), (b"tkhd", 20), (b"mdhd", 16)):
        at = out.find(box)
        while at >= 0:
            field = at + 4 + skip
            (value,) = struct.unpack(">I", out[field : field + 4])
            out[field : field + 4] = struct.pack(">I", min(0xFFFFFFFF, value * factor))
            at = out.find(box, at + 4)
    return bytes(out)


def test_hostile_and_broken_videos_get_clear_statuses_and_others_proceed(
    embedded: Runtime, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://{secret}\n#EXT-X-ENDLIST\n"
    concat = f"ffconcat version 1.0\nfile '{secret}'\n"
    ftyp = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    good = video_bytes(seconds=6.0)
    fast = faststart(tmp_path)
    cases = {
        "hls-playlist": playlist.encode(),
        "concat-list": concat.encode(),
        "mp4-wrapping-playlist": ftyp + playlist.encode(),
        "file-reference": ftyp + f"file://{secret}".encode(),
        "truncated": good[: len(good) // 2],
        "truncated-faststart": fast[: len(fast) // 2],
        "zero-duration": patch_durations(fast, 0),
        "lying-duration": patch_durations(fast, 1000),  # 6000 s claimed, 6 s of data
        "absurd-duration": patch_durations(fast, 10**8),  # 50 days
        "jpeg-as-video": image_bytes(),
    }
    expected = {
        "hls-playlist": StatusCode.INPUT_VIDEO_UNSUPPORTED_FORMAT,
        "concat-list": StatusCode.INPUT_VIDEO_UNSUPPORTED_FORMAT,
        "mp4-wrapping-playlist": StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED,
        "file-reference": StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED,
        "truncated": StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED,
        "truncated-faststart": StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED,
        "zero-duration": StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED,
        "lying-duration": StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED,
        "absurd-duration": StatusCode.INPUT_VIDEO_OVER_LIMIT,
        "jpeg-as-video": StatusCode.INPUT_VIDEO_UNSUPPORTED_FORMAT,
    }
    got = {}
    for name, data in cases.items():  # one video per request, as the limits say
        request = UploadRequest(
            inputs=[
                video_input(name, data),
                Input(id=f"{name}-img", data=Data(image=Media(base64=image_bytes()))),
            ]
        )
        result = embedded.ingest.handle(request)
        got[name] = result.outcomes[0]
        assert result.outcomes[1].code is StatusCode.INPUT_SUCCESS  # the rest proceeds
        assert result.follow_ups == []
    assert {k: o.code for k, o in got.items()} == expected
    for outcome in got.values():
        assert SECRET not in outcome.message and outcome.message
    assert "truncated" in got["truncated-faststart"].message
    assert "zero or unknown duration" in got["zero-duration"].message
    assert "absurd" in got["absurd-duration"].message
    assert "JPEG" in got["jpeg-as-video"].message


def test_probe_never_follows_a_playlist_even_when_named_like_a_video(tmp_path: Path) -> None:
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(video_bytes(seconds=1.0, size="64x48"))
    playlist = tmp_path / "list.mp4"
    playlist.write_text(f"#EXTM3U\n#EXTINF:1,\n{secret}\n#EXT-X-ENDLIST\n")
    with pytest.raises(InputError) as err:
        probe_media(playlist, "MP4", VIDEO_CODES, 10, 3600)
    assert err.value.code is StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED
    args = input_args("MP4")
    assert args[args.index("-protocol_whitelist") + 1] == "file,pipe"
    assert args[args.index("-format_whitelist") + 1] == args[args.index("-f") + 1] == "mov"


def test_the_packet_scan_refuses_a_truncated_file(tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    data = faststart(tmp_path)
    cut.write_bytes(data[: len(data) * 2 // 3])
    probe_media(cut, "MP4", VIDEO_CODES, 10, 3600)  # the header alone looks fine
    with pytest.raises(InputError) as err:
        probe_and_scan(cut, "MP4", 30, 3600)
    assert err.value.code is StatusCode.INPUT_VIDEO_DOWNLOAD_FAILED
    assert "truncated" in err.value.message


def test_a_hanging_tool_is_killed_at_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(ToolFailed) as err:
        # -re reads the endless source in real time: it would never finish by itself.
        run_tool(
            ["ffmpeg", "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc=rate=1", "-f", "null", "-"],
            timeout=0.5,
        )
    assert err.value.timed_out and "stopped" in err.value.detail
    assert time.monotonic() - started < 10


def test_bad_audio_gets_a_clear_status(embedded: Runtime) -> None:
    good = wav_bytes(0.5)
    empty = good[:40] + struct.pack("<I", 0)  # a header with no sample frames
    truncated = good[:-200]
    no_fmt = b"RIFF" + struct.pack("<I", 12) + b"WAVE" + b"data" + struct.pack("<I", 0)
    garbage_mp3 = b"ID3" + b"\x00" * 100
    inputs = {
        "empty": empty,
        "truncated": truncated,
        "no-fmt": no_fmt,
        "garbage-mp3": garbage_mp3,
        "good": good,
    }
    request = UploadRequest(
        inputs=[Input(id=k, data=Data(audio=Media(base64=v))) for k, v in inputs.items()]
    )
    result = embedded.ingest.handle(request)
    got = {o.input_id: (o.code, o.message) for o in result.outcomes}
    assert got["empty"] == (StatusCode.INPUT_FAILED, "WAV has no samples")
    assert got["truncated"][0] is StatusCode.INPUT_FAILED and "truncated" in got["truncated"][1]
    assert got["no-fmt"][0] is StatusCode.INPUT_FAILED
    assert got["garbage-mp3"][0] is StatusCode.INPUT_FAILED
    assert "MP3 file could not be read" in got["garbage-mp3"][1]
    assert got["good"][0] is StatusCode.INPUT_SUCCESS


def test_images_lying_about_their_size_and_unsupported_limits(embedded: Runtime) -> None:
    from tests.pipeline.test_ingest import lying_png

    request = UploadRequest(
        inputs=[
            Input(id="bomb", data=Data(image=Media(base64=lying_png(20_000, 20_000)))),
            Input(id="wav-as-image", data=Data(image=Media(base64=wav_bytes(0.1)))),
        ]
    )
    got = {o.input_id: o for o in embedded.ingest.handle(request).outcomes}
    assert got["bomb"].code is StatusCode.INPUT_OVER_LIMIT
    assert "decompression bomb" in got["bomb"].message
    assert got["wav-as-image"].code is StatusCode.INPUT_UNSUPPORTED_FORMAT
    assert "audio (WAV)" in got["wav-as-image"].message
    assert Limits().image_source_pixels <= 170_000_000  # within Pillow's own bomb guard
