"""Run `ingestd worker` processes against the test broker, kill them, and measure lag."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from ingestd.app.settings import Settings
from tests.support.storage import s3_credentials

ROOT = Path(__file__).resolve().parents[2]


def settings_env(settings: Settings) -> dict[str, str]:
    """The INGESTD_* environment that reproduces these settings in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTD_")}
    # This checkout's code, whatever the worker's current directory.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(
        INGESTD_BROKER=settings.broker,
        INGESTD_CATALOG=settings.catalog,
        INGESTD_BLOBS=settings.blobs,
        INGESTD_TOPIC_PREFIX=settings.topic_prefix,
        INGESTD_PARTITIONS=str(settings.partitions),
        INGESTD_FETCH_ALLOW='["127.0.0.1"]',
    )
    if settings.s3_endpoint_url:
        env["INGESTD_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
        env.update(s3_credentials(settings))
        env["INGESTD_S3_REGION"] = "us-east-1"
    return env


class WorkerProcess:
    """One `ingestd worker` subprocess, logging to a file."""

    def __init__(
        self, settings: Settings, log: Path, metrics_port: int = 0, cwd: Path = ROOT
    ) -> None:
        self.settings = settings
        self.log = log
        self.metrics_port = metrics_port
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = settings_env(self.settings)
        if self.metrics_port:
            env["INGESTD_METRICS_PORT"] = str(self.metrics_port)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ingestd.cli", "worker", "--loglevel", "warning"],
                cwd=self.cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def consumer_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Messages of `topics` not yet committed by consumer group `group`."""
    # Asking with the group's id reads its committed offsets without joining the group.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = [
            TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or [])
        ]
        ends = consumer.end_offsets(parts)
        return sum(ends[tp] - (consumer.committed(tp) or 0) for tp in parts)
    finally:
        consumer.close()


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def assigned_partitions(bootstrap: str, group: str, topic: str) -> list[set[int]]:
    """Per member of a stable consumer group, the partitions of `topic` assigned to it."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group]).get(group) or {}
    except KafkaError as exc:
        if exc.retriable:  # e.g. the group's coordinator is still being elected
            return []
        raise
    finally:
        admin.close()
    if described.get("error") or described.get("group_state") != "Stable":
        return []  # still (re)balancing: assignments are not settled
    members = described.get("members") or []
    return [_partitions_of(m.get("member_assignment"), topic) for m in members]


def _partitions_of(assignment: Any, topic: str) -> set[int]:
    if hasattr(assignment, "to_dict"):
        assignment = assignment.to_dict()
    if not isinstance(assignment, dict):
        return set()  # not decodable: nothing known to be assigned
    return {
        p
        for entry in assignment.get("assigned_partitions") or []
        if entry.get("topic") == topic
        for p in entry.get("partitions") or []
    }


def wait_progressing(
    progress: Callable[[], int], target: int, stall: float, what: str, every: float = 1.0
) -> None:
    """Wait until progress() reaches target; fail only when it stood still for `stall` s.

    A loaded machine makes the work slower, not stuck: the deadline moves on with progress.
    """
    best = progress()
    deadline = time.monotonic() + stall
    while best < target:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no progress for {stall:.0f}s waiting for {what} ({best}/{target})"
            )
        time.sleep(every)
        now = progress()
        if now > best:
            best, deadline = now, time.monotonic() + stall
