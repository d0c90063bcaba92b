"""A real S3 server for tests: versitygw on loopback with a POSIX backend in a temp dir.

Same interface as `MotoS3Server` (tests/support/s3_server.py): `start`, `stop` (an outage:
connections are refused), `restart` (same port, objects kept on disk), `endpoint_url`,
`client()`. The binary is built once by scripts/s3/versitygw.sh (Go module proxy, cached
in $VERSITYGW_CACHE). Root credentials are generated per server and passed in the
environment, never on the command line (other users' `ps`) nor printed.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Self

from tests.support.s3_server import REGION, S3Server, free_port

__all__ = ["VersityGateway", "versitygw_binary"]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "s3" / "versitygw.sh"
START_TIMEOUT = 60.0


def versitygw_binary() -> Path:
    """The cached binary, built first if this cache has none (minutes, once)."""
    proc = subprocess.run(
        ["bash", str(SCRIPT), "build"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"versitygw.sh build failed ({proc.returncode}):\n{proc.stderr}")
    return Path(proc.stdout.strip().splitlines()[-1])


class VersityGateway(S3Server):
    def __init__(self, root: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.root = Path(root)
        self.data = self.root / "data"  # one directory per bucket
        self.log = self.root / "versitygw.log"
        self.host = host
        self.port = port or free_port(host)
        self.access_key_id = f"gw{secrets.token_hex(8)}"
        self.secret_access_key = secrets.token_urlsafe(30)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        binary = versitygw_binary()
        self.data.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "ROOT_ACCESS_KEY_ID": self.access_key_id,
            "ROOT_SECRET_ACCESS_KEY": self.secret_access_key,
        }
        args = [str(binary), "--port", f"{self.host}:{self.port}", "--region", REGION]
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(
                [*args, "posix", str(self.data)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of pytest is ours to forward, not the TTY's
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Ready when an authenticated ListBuckets succeeds (listening and keys loaded)."""
        client = self.client(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"versitygw exited ({self._proc.returncode}); see {self.log}")
            try:
                client.list_buckets()
                return
            except Exception as e:  # refused while it binds: the only expected failure
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"versitygw not ready on {self.endpoint_url} after {START_TIMEOUT:.0f} s "
                        f"({e}); see {self.log}"
                    ) from e
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 30 s); new connections are refused afterwards."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)

    def __repr__(self) -> str:  # never the secret
        return f"<VersityGateway {'running' if self.running else 'stopped'} {self.endpoint_url}>"
