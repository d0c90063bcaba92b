"""The one gate for reading a local file named by untrusted input (a folder entry, a CSV cell).

A path may be read only if it resolves, links followed, to a regular file under the import's
root, and not on a special filesystem (/proc, /sys, /dev). The check is repeated while
opening: each component is opened relative to its parent with O_NOFOLLOW, so a link swapped
in between the check and the open fails instead of escaping, and the file is judged by
fstat on the open descriptor, never by its name.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from functools import cache
from pathlib import Path

from pipeline.errors import InputError
from pipeline.status import StatusCode

SPECIAL_ROOTS = ("/proc", "/sys", "/dev")
_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
# O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused after fstat anyway.
_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW


class LocalPathRefused(InputError):
    """The path may not be read for this import; `missing` tells "nothing there" apart."""

    def __init__(self, code: StatusCode, message: str, *, missing: bool = False) -> None:
        super().__init__(code, message)
        self.missing = missing


@cache
def _special_devices() -> frozenset[int]:
    """Device numbers of the special filesystems: a bind mount of /proc elsewhere shares it."""
    devices = set()
    for root in SPECIAL_ROOTS:
        try:
            devices.add(os.stat(root).st_dev)
        except OSError:
            continue
    return frozenset(devices)


def _is_special(path: str) -> bool:
    return any(path == r or path.startswith(r + "/") for r in SPECIAL_ROOTS)


def resolve_under(
    root: Path, name: str | Path, shown: str, start: Path | None = None
) -> tuple[Path, Path]:
    """(real root, path relative to it) of `name`, links followed; relative names start at
    `start` (default: root)."""
    real_root = Path(os.path.realpath(root))
    try:
        real = Path(os.path.realpath((start or root) / name))
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte
        raise LocalPathRefused(
            StatusCode.INPUT_INVALID_ARGUMENT, f"{shown}: not a usable path ({exc})"
        ) from None
    if _is_special(str(real)):
        raise LocalPathRefused(
            StatusCode.INPUT_PERMISSION_DENIED,
            f"{shown} is on a special filesystem ({real.parts[1]}); only regular files are read",
        )
    if real != real_root and real_root not in real.parents:
        raise LocalPathRefused(
            StatusCode.INPUT_PERMISSION_DENIED,
            f"{shown} leads outside {real_root} (through '..', an absolute path or a link); "
            "only files under it are read",
        )
    return real_root, real.relative_to(real_root)


def read_local_file(
    root: Path, name: str | Path, *, shown: str | None = None, start: Path | None = None
) -> bytes:
    """The bytes of the regular file `name` under `root`; LocalPathRefused otherwise.

    A relative `name` starts at `start` (default: root); wherever it starts, it must end
    under root.
    """
    with open_local_file(root, name, shown=shown, start=start) as fh:
        return fh.read()


def open_local_file(
    root: Path, name: str | Path, *, shown: str | None = None, start: Path | None = None
) -> io.BufferedReader:
    """The regular file `name` under `root`, open for reading; LocalPathRefused otherwise.

    Read large files from it in pieces; `fd_path(fh)` names this very open file for tools
    that take a path (what the name points to now does not matter any more).
    """
    shown = shown if shown is not None else str(name)
    real_root, rel = resolve_under(root, name, shown, start)
    fd = _open_beneath(real_root, rel, shown)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LocalPathRefused(
                StatusCode.INPUT_INVALID_ARGUMENT,
                f"{shown} is not a regular file (a directory, device, pipe or socket)",
            )
        if info.st_dev in _special_devices():
            raise LocalPathRefused(
                StatusCode.INPUT_PERMISSION_DENIED,
                f"{shown} is on a special filesystem; only regular files are read",
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def fd_path(fh: io.BufferedReader) -> Path:
    """A path that opens the same file as `fh` (Linux /proc, else /dev/fd)."""
    proc = Path(f"/proc/self/fd/{fh.fileno()}")
    return proc if proc.exists() else Path(f"/dev/fd/{fh.fileno()}")


def _open_beneath(real_root: Path, rel: Path, shown: str) -> int:
    """Open root/rel one component at a time, refusing any link met on the way."""
    try:
        fd = os.open(real_root, _DIR_FLAGS)
    except OSError as exc:
        raise _refusal(exc, shown) from None
    parts = rel.parts
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        try:
            nxt = os.open(part, _FILE_FLAGS if last else _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            swapped = _is_link(part, fd)
            os.close(fd)
            if swapped:  # it was no link when the path was resolved: someone swapped it
                raise LocalPathRefused(
                    StatusCode.INPUT_PERMISSION_DENIED,
                    f"{shown} changed into a link while being read; refused",
                ) from None
            raise _refusal(exc, shown) from None
        os.close(fd)
        fd = nxt
    return fd


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _refusal(exc: OSError, shown: str) -> LocalPathRefused:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return LocalPathRefused(
            StatusCode.INPUT_PERMISSION_DENIED, f"no permission to read {shown}"
        )
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return LocalPathRefused(
            StatusCode.INPUT_DOES_NOT_EXIST, f"no such file {shown}", missing=True
        )
    return LocalPathRefused(StatusCode.INPUT_DOES_NOT_EXIST, f"cannot read {shown}: {exc.strerror}")
