"""A real PostgreSQL server on a free loopback port for the tests, its cluster in a temporary folder.

initdb and postgres refuse to run as root: run as root (a container, CI), the cluster belongs to the
``postgres`` system user the Debian package creates, and both run as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.mailserver import free_port
from tests.processes import end, wait_until_ready

USER = "policywatch"
PASSWORD = "pw-secret"


def bin_dir() -> Path | None:
    """The folder of initdb and postgres: ``pg_config --bindir``, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("pg_config")
    if found:
        try:
            answer = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=True)
            folder = Path(answer.stdout.strip())
        except (OSError, subprocess.CalledProcessError):
            folder = None
        if folder is not None and (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def _demote() -> tuple[int, int] | None:
    """The (uid, gid) to run the server as: the postgres user when this process is root, else None (as is)."""
    if os.geteuid() != 0:
        return None
    user = pwd.getpwnam("postgres")
    return user.pw_uid, user.pw_gid


class PostgresServer:
    """``initdb`` then ``postgres -h 127.0.0.1 -p N`` (no fsync: a test cluster), run until ``stop``."""

    def __init__(self) -> None:
        # Its own folder in /tmp, not pytest's (which only root may enter when the tests run as root).
        self.folder = Path(tempfile.mkdtemp(prefix="policywatch-pg-"))
        self.port = free_port()
        self.bin = bin_dir()
        self.process: subprocess.Popen[bytes] | None = None
        self.owner = _demote()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def _run_as(self) -> dict[str, object]:
        if self.owner is None:
            return {}
        uid, gid = self.owner
        return {"user": uid, "group": gid, "extra_groups": []}

    def start(self, timeout: float = 30) -> None:
        if self.bin is None:
            raise FileNotFoundError("PostgreSQL is not installed")
        data, sockets = self.folder / "data", self.folder / "run"
        sockets.mkdir(parents=True, exist_ok=True)
        password = self.folder / "password"
        password.write_text(PASSWORD + "\n", encoding="utf-8")
        if self.owner is not None:
            for path in (self.folder, sockets, password):
                os.chown(path, *self.owner)
        subprocess.run([str(self.bin / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(password),
                        "-A", "scram-sha-256", "--locale=C", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, cwd=self.folder, **self._run_as())
        with open(self.folder / "postgres.log", "wb") as log:
            if self.owner is not None:
                os.fchown(log.fileno(), *self.owner)
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
                 "-k", str(sockets), "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.folder, **self._run_as())
        if not wait_until_ready(self.process, self.ready, timeout):
            self.stop()
            raise RuntimeError(f"postgres on port {self.port} did not start: see {self.folder / 'postgres.log'}")

    def ready(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.url(), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        end(self.process, signal.SIGINT)  # fast shutdown: clients still connected are cut off
        shutil.rmtree(self.folder, ignore_errors=True)


def copy_database(url: str, source: str, target: str, replace: bool = False) -> None:
    """Make database ``target`` a copy of ``source`` (CREATE DATABASE … TEMPLATE, a file copy inside the server) on
    the server of ``url``; ``replace`` drops a ``target`` that exists first. Nobody may be connected to either:
    a session that has just closed can linger a moment in the server, so theirs are ended first."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        for name in (source, target):
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                         "AND pid <> pg_backend_pid()", [name])
        if replace:
            conn.execute(f'DROP DATABASE IF EXISTS "{target}"')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
