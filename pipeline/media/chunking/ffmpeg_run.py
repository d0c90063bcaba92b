"""ffmpeg and ffprobe on untrusted media: local files only, the demuxer forced, time-limited.

Every call reads exactly one local file (`file:` URL, protocol whitelist file/pipe), with
the demuxer chosen from the sniffed format and no other demuxer allowed (so no playlist,
concat list or nested reference is ever followed), and is killed with its process group
when it runs past its timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from pipeline.errors import InputError
from pipeline.status import StatusCode

# Sniffed format -> the one ffmpeg demuxer allowed to read it.
DEMUXERS = {
    "MP4": "mov",
    "MOV": "mov",
    "3GPP": "mov",
    "M4A": "mov",
    "AVI": "avi",
    "WMV": "asf",
    "WAV": "wav",
    "MP3": "mp3",
    "FLAC": "flac",
    "OGG": "ogg",
}
_STDERR_TAIL = 2000


def input_options(fmt: str) -> dict[str, Any]:
    """ffmpeg input options that pin the demuxer and forbid anything but local files."""
    demuxer = DEMUXERS.get(fmt)
    if demuxer is None:
        raise InputError(
            StatusCode.INPUT_UNSUPPORTED_FORMAT, f"no safe demuxer is configured for {fmt} media"
        )
    options: dict[str, Any] = {
        "f": demuxer,
        "format_whitelist": demuxer,
        "protocol_whitelist": "file,pipe",
    }
    if demuxer == "mov":
        options["enable_drefs"] = 0  # external data references would read other files
    return options


def input_args(fmt: str) -> list[str]:
    args: list[str] = []
    for name, value in input_options(fmt).items():
        args += [f"-{name}", str(value)]
    return args


def ffmpeg_cmd(stream: Any) -> list[str]:
    """The command line of an ffmpeg-python graph, quiet and never reading stdin."""
    compiled: list[str] = stream.compile()
    return [compiled[0], "-nostdin", "-hide_banner", "-v", "error", *compiled[1:]]


def file_url(path: Path) -> str:
    """`file:` + absolute path: a name with ':' or '|' can never select another protocol."""
    return f"file:{path.resolve()}"


class ToolFailed(Exception):
    """ffmpeg/ffprobe exited non-zero; `detail` is the tail of what it said."""

    def __init__(self, detail: str, timed_out: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.timed_out = timed_out


def run_tool(cmd: Sequence[str], timeout: float, stdout: IO[bytes] | None = None) -> str:
    """Run a tool to completion; returns the tail of its stderr, raises ToolFailed.

    Output goes to files, never to pipes we would have to drain, so a chatty or hostile
    input cannot grow our memory; the process group is killed on timeout.
    """
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=stdout if stdout is not None else subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise ToolFailed(f"{cmd[0]} is not installed on this worker (install ffmpeg)") from None
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            message = f"{cmd[0]} ran longer than {timeout:.0f}s and was stopped"
            raise ToolFailed(message, timed_out=True) from None
        finally:
            if proc.poll() is None:  # interrupted: never leave a child running
                _kill(proc)
        tail = _tail(err)
    if code != 0:
        raise ToolFailed(tail or f"{cmd[0]} exited with status {code}")
    return tail


@contextmanager
def tool_output(cmd: Sequence[str], timeout: float) -> Iterator[tuple[IO[bytes], str]]:
    """Run a tool with stdout to a temp file; yields (that file at its start, stderr tail)."""
    with tempfile.TemporaryFile() as out:
        tail = run_tool(cmd, timeout, stdout=out)
        out.seek(0)
        yield out, tail


def _kill(proc: subprocess.Popen[Any]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(err: IO[bytes]) -> str:
    size = err.seek(0, os.SEEK_END)
    err.seek(max(0, size - _STDERR_TAIL))
    text = err.read().decode("utf-8", "replace").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-3:])[-_STDERR_TAIL:]
