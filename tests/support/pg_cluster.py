"""Throwaway PostgreSQL cluster for tests (stdlib only).

Usage::

    with PostgresCluster() as pg:
        engine = sqlalchemy.create_engine(pg.url)
        other_url = pg.create_database("other")

The cluster lives in a fresh temporary directory, listens only on 127.0.0.1
(on a free port) plus a unix socket inside that directory, runs with
durability switched off for speed (fsync / synchronous_commit /
full_page_writes = off) and trusts every local connection.

``initdb`` and ``postgres`` refuse to run as root, so when the test process is
root the server processes are started as the ``postgres`` system user (the
one created by Debian's ``postgresql`` package) and the temp directory is
handed over to that user. As a normal user everything runs as that user.

``stop()`` does an immediate shutdown (SIGQUIT) and removes the directory.
It is also registered with ``atexit`` so an aborted test run doesn't leave a
server behind (a SIGKILLed test process still can, like any other server).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

__all__ = ["PostgresCluster", "PostgresClusterError", "find_bindir"]

DEFAULT_DB = "ingestd_test"
SUPERUSER = "postgres"
RUN_AS_ROOT_USER = "postgres"  # system user used when we are root


class PostgresClusterError(RuntimeError):
    pass


def _version_key(path: str) -> tuple[int, ...]:
    m = re.search(r"/postgresql/([\d.]+)/bin", path)
    if not m:
        return (0,)
    return tuple(int(p) for p in m.group(1).split(".") if p.isdigit())


def find_bindir() -> Path:
    """Locate the directory holding initdb/postgres.

    Order: $PG_BINDIR, newest /usr/lib/postgresql/*/bin, `pg_config --bindir`,
    initdb on $PATH.
    """
    env = os.environ.get("PG_BINDIR")
    if env and (Path(env) / "initdb").exists():
        return Path(env)
    cands = [
        d
        for d in glob.glob("/usr/lib/postgresql/*/bin")
        if os.access(os.path.join(d, "initdb"), os.X_OK)
    ]
    if cands:
        return Path(max(cands, key=_version_key))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            if out and (Path(out) / "initdb").exists():
                return Path(out)
        except (subprocess.SubprocessError, OSError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresClusterError(
        "PostgreSQL server binaries (initdb/postgres) not found. "
        "Install them with scripts/system-deps.sh (Debian package 'postgresql') "
        "or set PG_BINDIR."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env() -> dict[str, str]:
    # Keep PG* variables of the caller (PGHOST, PGPORT, PGDATA...) out of it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.setdefault("LC_ALL", "C")
    env.setdefault("LANG", "C")
    return env


def _traversable_by_others(path: Path) -> bool:
    """True if every ancestor of path is o+x (so the postgres user can reach it)."""
    for p in [path, *path.parents]:
        try:
            if not os.stat(p).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


class PostgresCluster:
    """A disposable PostgreSQL server. See module docstring."""

    def __init__(
        self,
        *,
        bindir: str | os.PathLike[str] | None = None,
        dbname: str = DEFAULT_DB,
        settings: dict[str, str] | None = None,
        start_timeout: float = 30.0,
        start: bool = False,
    ) -> None:
        self.bindir = Path(bindir) if bindir else find_bindir()
        self.dbname = dbname
        self.settings = dict(settings or {})
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.tmpdir: Path | None = None
        self.datadir: Path | None = None
        self.logfile: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._run_as: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam(RUN_AS_ROOT_USER)
            except KeyError:
                raise PostgresClusterError(
                    f"running as root but system user {RUN_AS_ROOT_USER!r} does not exist "
                    "(install the Debian 'postgresql' package, or run tests as a normal user)"
                ) from None
        if start:
            self.start()

    # ------------------------------------------------------------------ URLs
    def url_for(self, dbname: str, driver: str = "postgresql+psycopg") -> str:
        if self.port is None:
            raise PostgresClusterError("cluster not started")
        return f"{driver}://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of the default test database."""
        return self.url_for(self.dbname)

    @property
    def libpq_url(self) -> str:
        """Plain libpq URL (for psycopg.connect / psql) of the default database."""
        return self.url_for(self.dbname, driver="postgresql")

    @property
    def socket_dir(self) -> Path | None:
        return self.tmpdir

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ------------------------------------------------------------- internals
    def _popen_kwargs(self) -> dict:
        kw: dict = {"env": _clean_env(), "cwd": str(self.tmpdir)}
        if self._run_as is not None:
            kw.update(user=self._run_as.pw_uid, group=self._run_as.pw_gid, extra_groups=[])
            kw["env"]["HOME"] = self._run_as.pw_dir
            kw["env"]["USER"] = kw["env"]["LOGNAME"] = self._run_as.pw_name
        return kw

    def _run_server_tool(self, args: list[str], timeout: float = 120) -> None:
        res = subprocess.run(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
            **self._popen_kwargs(),
        )
        if res.returncode != 0:
            raise PostgresClusterError(
                f"{' '.join(args)} failed (exit {res.returncode}):\n"
                + res.stdout.decode(errors="replace")
            )

    def _make_tmpdir(self) -> Path:
        base = None
        if self._run_as is not None and not _traversable_by_others(Path(tempfile.gettempdir())):
            base = "/tmp"  # $TMPDIR is not reachable by the postgres user
        d = Path(tempfile.mkdtemp(prefix="ingestd-pg-", dir=base))
        if self._run_as is not None:
            os.chown(d, self._run_as.pw_uid, self._run_as.pw_gid)
        return d

    def _read_log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace") if self.logfile else ""
        except OSError:
            return ""

    def _pid_status(self) -> str | None:
        if self.datadir is None:
            return None
        try:
            lines = (self.datadir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        return lines[7].strip() if len(lines) >= 8 else None

    def _launch(self) -> None:
        assert self.tmpdir is not None and self.datadir is not None and self.logfile is not None
        self.port = _free_port()
        args = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            f"unix_socket_directories={self.tmpdir}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "logging_collector=off",
        ]
        for k, v in self.settings.items():
            args += ["-c", f"{k}={v}"]
        # The child keeps its own copy of the log fd; ours can be closed at once.
        with open(self.logfile, "ab") as log_fh:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # don't receive the test runner's Ctrl-C directly
                **self._popen_kwargs(),
            )

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PostgresClusterError(
                    f"postgres exited with code {self._proc.returncode} during startup:\n"
                    + self._read_log()
                )
            if self._pid_status() == "ready":
                try:
                    with socket.create_connection((self.host, self.port), timeout=1):
                        return
                except OSError:
                    pass
            time.sleep(0.02)
        raise PostgresClusterError(
            f"postgres did not become ready in {self.start_timeout}s:\n{self._read_log()}"
        )

    # ------------------------------------------------------------ public API
    def start(self) -> Self:
        if self.running:
            return self
        try:
            self.tmpdir = self._make_tmpdir()
            self.datadir = self.tmpdir / "data"
            self.logfile = self.tmpdir / "postgres.log"
            atexit.register(self.stop)
            self._run_server_tool(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ]
            )
            # The free port may be taken between probing and binding; retry.
            for attempt in range(5):
                self._launch()
                try:
                    self._wait_ready()
                    break
                except PostgresClusterError:
                    log = self._read_log()
                    self._kill()
                    if attempt < 4 and (
                        "could not bind" in log or "could not create any TCP/IP sockets" in log
                    ):
                        continue
                    raise
            self.create_database(self.dbname)
        except BaseException:
            self.stop()
            raise
        return self

    def create_database(self, name: str) -> str:
        """CREATE DATABASE `name` and return its SQLAlchemy URL."""
        if not self.running:
            raise PostgresClusterError("cluster not running")
        res = subprocess.run(
            [
                str(self.bindir / "createdb"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "--no-password",
                name,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
            timeout=60,
            check=False,
        )
        if res.returncode != 0:
            raise PostgresClusterError(
                f"createdb {name} failed:\n{res.stdout.decode(errors='replace')}"
            )
        return self.url_for(name)

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGQUIT)  # immediate shutdown
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # postmaster + its children
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """Immediate shutdown and removal of the temp directory. Idempotent."""
        self._kill()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<PostgresCluster {state} port={self.port} dir={self.tmpdir}>"
