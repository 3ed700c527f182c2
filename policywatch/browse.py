"""``policywatch browse``: state.db in Datasette, with the project's table descriptions and canned queries.

Analysts get a query editor, faceting and CSV/JSON export over the whole change history without writing a
line of Python. The metadata (``datasette.yaml``) ships with PolicyWatch; Datasette itself is the optional
``browse`` extra, so a crawler host that never browses does not install it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

METADATA = Path(__file__).with_name("datasette.yaml")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOP_GRACE = 10.0  # seconds Datasette gets to close its connections after being asked to stop, before SIGKILL
_PR_SET_PDEATHSIG = 1  # prctl(2)


class BrowseError(Exception):
    """Datasette or the database is missing; the message says which, in one line."""


def metadata(db: Path) -> dict[str, Any]:
    """The shipped metadata, its database keyed by the name Datasette gives ``db`` (the file name without .db)."""
    import yaml  # Datasette's own dependency: present whenever browsing is possible

    data = yaml.safe_load(METADATA.read_text(encoding="utf-8"))
    data["databases"] = {db.stem: data["databases"]["state"]}
    return data


class _Stop(Exception):
    """A stop signal reached ``policywatch browse``."""


def browse(db: Path, host: str = "127.0.0.1", port: int = 8001, open_browser: bool = False) -> int:
    """Serve ``db`` with Datasette until interrupted; returns Datasette's exit code (0 when stopped by a signal)."""
    if importlib.util.find_spec("datasette") is None:
        raise BrowseError("browsing needs Datasette: pip install 'policywatch[browse]'")
    if not db.is_file():
        raise BrowseError(f"no state.db at {db}: run `policywatch crawl` first")
    with tempfile.TemporaryDirectory(prefix="policywatch-browse-") as folder:
        path = Path(folder) / "metadata.json"
        path.write_text(json.dumps(metadata(db), ensure_ascii=False), encoding="utf-8")
        command = [sys.executable, "-m", "datasette", "serve", str(db), "--metadata", str(path),
                   "--host", host, "--port", str(port)]
        if open_browser:
            command.append("--open")
        return _serve(command)


def _serve(command: list[str]) -> int:
    """Run Datasette and wait for it. SIGTERM, SIGINT or SIGHUP to this process stop it too (asked with SIGTERM,
    killed after STOP_GRACE), and it is asked to stop when this process dies any other way, even by SIGKILL: it
    never outlives the command that started it, holding its port."""
    waiting = [True]

    def stop(signum: int, frame: object) -> None:
        if waiting[0]:
            raise _Stop

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    process = None
    try:
        process = subprocess.Popen(command, preexec_fn=_die_with_parent(os.getpid()))
        return process.wait()
    except _Stop:
        return 0
    finally:
        waiting[0] = False
        for number in STOP_SIGNALS:  # a second signal while stopping does not cut the wait short
            signal.signal(number, signal.SIG_IGN)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for number, handler in previous.items():
            signal.signal(number, handler)


def _die_with_parent(parent: int) -> Any:
    """For Popen's preexec_fn: the child gets SIGTERM when ``parent`` dies (Linux's PR_SET_PDEATHSIG; the
    command runs it from its main thread, which lives as long as the process), and leaves at once if it already
    has. Elsewhere nothing: the signal handlers still stop the child on every stop but SIGKILL."""
    def arrange() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return arrange
