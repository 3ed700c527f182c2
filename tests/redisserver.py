"""A real redis-server on a free loopback port for the tests, without persistence, in a temporary folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.mailserver import free_port
from tests.processes import end, wait_until_ready


def in_ci() -> bool:
    """CI is set (as .ci/run sets it): a missing server fails the tests that need it instead of skipping them."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


class RedisServer:
    """``redis-server --port N --bind 127.0.0.1 --save "" --appendonly no``, run until ``stop``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        """Start the server and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not on PATH")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until_ready(self.process, self.ping, timeout):
            self.stop()
            raise RuntimeError(f"redis-server on port {self.port} did not answer PING")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        end(self.process)
