"""Single-node KRaft Kafka broker on loopback for tests (wraps scripts/kafka/broker.sh).

Jars are fetched once from Maven Central into $KAFKA_CACHE (default ~/.cache/ingestd-kafka);
needs java and mvn. The session fixture that uses this honours KAFKA_BOOTSTRAP to skip starting.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

BROKER_SH = Path(__file__).resolve().parents[2] / "scripts" / "kafka" / "broker.sh"


def free_port() -> int:
    """A loopback port that is free, and whose successor (the controller port) is free too."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair found")


class KafkaBroker:
    def __init__(self, datadir: Path, port: int) -> None:
        self.datadir = Path(datadir)
        self.port = port

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> None:
        proc = subprocess.run(
            ["bash", str(BROKER_SH), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else {**os.environ, **env},
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"broker.sh {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}"
            )

    def fetch(self) -> None:
        self._run("fetch", timeout=600)

    def format(self, cluster_id: str | None = None) -> None:
        """Write the config and format datadir (if new) without starting; a random id if None."""
        self.fetch()
        env = {"KAFKA_CLUSTER_ID": cluster_id} if cluster_id is not None else None
        self._run("format", str(self.port), str(self.datadir), env=env)

    def cluster_id(self) -> str | None:
        """The cluster id datadir was formatted with (None if it is not formatted)."""
        meta = self.datadir / "logs" / "meta.properties"
        if not meta.exists():
            return None
        for line in meta.read_text().splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1]
        return None

    def start(self) -> None:
        """Fetch jars if needed, format datadir if new, start, and wait until the port accepts."""
        self.fetch()
        self._run("start", str(self.port), str(self.datadir))

    def stop(self) -> None:
        """Graceful stop (SIGTERM, waits)."""
        self._run("stop", str(self.datadir))

    def kill(self) -> None:
        """Crash the broker (SIGKILL, waits until gone)."""
        self._run("kill9", str(self.datadir))

    def restart(self, hard: bool = False) -> None:
        """Stop (or SIGKILL if hard) and start again on the same datadir and port."""
        self.kill() if hard else self.stop()
        self.start()

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
