"""A `policywatch serve` running beside a bench step, so a `policywatch crawl` hands its sources to serve's warm
crawl workers; and what serve's process tree spent, read from /proc (Linux), for the CPU of each source run.

Serve's CPU is not the crawl command's (its workers are not the command's children), so the step that uses it
counts both: the command's process tree, measured by bench.measure, and serve's, measured here before and after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # the fields after the command name, which may hold spaces


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) spent so far by ``root`` and every live process below it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            parents[int(entry.name)] = int(fields[1])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    total = 0
    for pid in tree:
        if fields := _stat(pid):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


@contextmanager
def serving(config: Path, db: Path, log: Path, timeout: float = 120) -> Iterator[int]:
    """Run `policywatch serve` for ``config`` and ``db`` until the block ends; yields its pid once it serves."""
    serve_log = db.parent / "logs" / "serve.log"
    seen = serve_log.stat().st_size if serve_log.exists() else 0  # the log is appended to: only new lines count
    with log.open("a", encoding="utf-8") as err:
        process = subprocess.Popen([sys.executable, "-m", "policywatch.cli", "--config", str(config), "--db",
                                    str(db), "serve"], stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + timeout
        while not (serve_log.exists() and b"serving " in serve_log.read_bytes()[seen:]):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"policywatch serve did not start; see {log}")
            time.sleep(0.1)
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
