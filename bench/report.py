"""Options and result lines the benchmarks share (they run as `python bench/x.py`)."""

from __future__ import annotations

import argparse
import resource


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
