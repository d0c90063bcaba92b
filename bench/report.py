"""What the benchmarks share (they run as `python bench/x.py`): options, result lines, a
server process on a free port and the timed folder import they compare against."""

from __future__ import annotations

import argparse
import resource
import socket
import subprocess
import time
from pathlib import Path
from typing import Any


def options(doc: str, **defaults: float) -> argparse.Namespace:
    """Parse `--name N` for each default (`latency_events` is `--latency-events`).

    Each option takes the type of its default; the first line of `doc` describes the script.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    return parser.parse_args()


def rate_line(label: str, count: int, unit: str, rounds: list[float]) -> str:
    """`label: N units/s  (rounds: ...)`, the rate of the best (shortest) round."""
    times = ", ".join(f"{t:.2f}s" for t in rounds)
    return f"{label}: {count / min(rounds):8.1f} {unit}/s  (rounds: {times})"


def peak_memory_line() -> str:
    """Peak resident memory of this process and of the largest child it waited for (ffmpeg,
    a worker, a measured run), as getrusage reports them; printed beside every bench's time."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return f"peak memory: this process {own:.0f} MB, largest child process {kids:.0f} MB"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    command: list[str], port: int, what: str, seconds: float, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Run `command` in its own process and wait until it accepts connections on `port`."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{what} did not start")


def timed_folder_import(settings: Any, folder: Path) -> float:
    """Seconds `ingestd import folder --labels` takes to store `folder` with `settings`."""
    # imported here: the scripts put the repository on sys.path before they call this
    from connectors.importers.folder import iter_folder_items
    from connectors.importers.runner import ImportOptions, ImportRun
    from ingestd.app.runtime import Runtime

    with Runtime.open(settings) as rt:
        started = time.perf_counter()
        summary = ImportRun(
            rt.submit, rt.catalog, ImportOptions(source="folder", limits=settings.limits)
        ).run(iter_folder_items(folder, labels=True))
        elapsed = time.perf_counter() - started
    if summary.failed or summary.actions["created"] != summary.total:
        raise RuntimeError(f"ingestd import did not store every file: {summary.to_dict()}")
    return elapsed
