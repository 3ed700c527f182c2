"""Processes as /proc sees them, for tests that check what a command leaves running (Linux only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from the kernel's list of each of its threads' children
    (/proc/PID/task/TID/children): a few small reads, where walking all of /proc reads a file of every process on
    the machine, which tests that poll many times a second would pay for in seconds of CPU."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:  # no such process
        return []
    found = []
    for thread in threads:
        with suppress(OSError):  # the thread has ended
            found += map(int, Path(f"/proc/{pid}/task/{thread}/children").read_text().split())
    return found


def descendants(pid: int) -> list[int]:
    """The children of ``pid``, theirs, and so on."""
    found, level = [], children(pid)
    while level:
        found += level
        level = [child for parent in level for child in children(parent)]
    return found


def command_line(pid: int) -> bytes:
    """The process's arguments, NUL-separated (empty when it is gone, or a zombie)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, waiting for whoever adopted it to reap it) does not."""
    state, _ = _stat(pid)
    return state not in (None, "Z", "X")


def wait_gone(pids: list[int], limit: float = 60) -> list[int]:
    """Wait until none of ``pids`` runs, at most ``limit`` seconds; returns those still running."""
    deadline = time.monotonic() + limit
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def kill_all(pids: list[int]) -> None:
    """SIGKILL whatever of ``pids`` still runs: a test's cleanup, whatever it found."""
    for pid in pids:
        if alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _stat(pid: int) -> tuple[str | None, int | None]:
    """(state letter, parent pid) from /proc/PID/stat, or (None, None) when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None, None
    fields = text[text.rindex(")") + 2:].split()  # the command name, in parentheses, may hold spaces
    return fields[0], int(fields[1])


def wait_until_ready(process: subprocess.Popen, ready: Callable[[], bool], timeout: float) -> bool:
    """Poll ``ready`` until it holds (True), the server ``process`` exits or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def end(process: subprocess.Popen | None, signum: int = signal.SIGTERM) -> None:
    """Stop a test's server with ``signum``, and SIGKILL it if it is still there 10 s later."""
    if process is not None and process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def listening_ports(pid: int) -> list[int]:
    """The TCP ports process ``pid`` listens on (its sockets in state LISTEN in /proc/net/tcp and tcp6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)
