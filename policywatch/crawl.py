"""Start a crawl subprocess, follow its progress, and record how each source fared; the caller shows it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from policywatch.health import update_alerts
from policywatch.store import Store, now_iso

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from policywatch.config import Config

STOP_GRACE = 30.0  # seconds a stopped crawl gets to wind down (Scrapy finishes in-flight items) before SIGKILL


class CrawlError(Exception):
    """The crawl process itself failed (not a portal: those are recorded and skipped)."""


@dataclass
class CrawlResult:
    run_id: int
    summary: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)  # sources another process was already crawling
    alerts: list[str] = field(default_factory=list)  # sources this run found broken


def crawl(
    config: Config,
    sources: Iterable[str] = (),
    recheck_all: bool = False,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    timeout: float | None = None,
    stop: threading.Event | None = None,
) -> CrawlResult:
    """Run ``python -m crawler.run`` for ``sources`` (all when empty) and wait for it.

    Progress arrives as JSON lines and is passed to ``on_event``. A crawl still running after ``timeout``
    seconds, or when ``stop`` is set, gets SIGTERM (Scrapy's graceful shutdown), then SIGKILL after
    STOP_GRACE; what it stored stays stored. Afterwards each source's run is summed up in state.db and
    its alert opened or closed (see policywatch.health), whatever the outcome.
    """
    names = list(sources) or [s.name for s in config.sources]
    log_dir = config.db.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "crawler.run", "--config", str(config.path),
               "--db", str(config.db), "--events", "--log-file", str(log_dir / "crawl.log")]
    if recheck_all:
        command.append("--recheck-all")
    command.extend(names)
    run_id: int | None = None
    skipped: list[str] = []
    started = now_iso()
    # stderr goes to a file, not a pipe: a chatty process can never block on it.
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err, subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=err, text=True, encoding="utf-8"
    ) as process:
        assert process.stdout is not None
        ended, interrupted = threading.Event(), []
        watcher = threading.Thread(target=_stop_when, args=(process, ended, interrupted, timeout, stop), daemon=True)
        watcher.start()
        for line in process.stdout:
            event = _event(line)
            if event.get("event") == "run":
                run_id = int(event["run"])
            if event.get("event") == "skipped":
                skipped.append(event["source"])
            if event and on_event is not None:
                on_event(event)
        process.wait()
        ended.set()
        watcher.join()
        err.seek(0)
        stderr = err.read()
    outcome = interrupted[0] if interrupted else "ok" if process.returncode == 0 and run_id is not None else "failed"
    if run_id is not None:
        crawled = [n for n in names if n not in skipped]
        with Store(config.db) as store:
            if outcome != "ok":
                store.finish_run(run_id, outcome)
            store.record_source_runs(run_id, crawled, outcome, started, now_iso())
            alerts = update_alerts(config, store, crawled)
            result = CrawlResult(run_id, store.run_summary(run_id), store.run_errors(run_id), skipped, alerts)
    if outcome != "ok":
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {process.returncode}"
        raise CrawlError(f"crawl {outcome}: {last}" if outcome == "failed" else f"crawl {outcome}")
    return result


def _stop_when(process: subprocess.Popen, ended: threading.Event, interrupted: list[str], timeout: float | None,
               stop: threading.Event | None) -> None:
    """Watch a crawl: on timeout or ``stop``, ask it to wind down, then make it; says which in ``interrupted``."""
    deadline = time.monotonic() + timeout if timeout else None
    while not ended.wait(0.2):
        timed_out = deadline is not None and time.monotonic() >= deadline
        if not timed_out and not (stop is not None and stop.is_set()):
            continue
        interrupted.append("timed out" if timed_out else "stopped")
        process.send_signal(signal.SIGTERM)
        if not ended.wait(STOP_GRACE):
            process.kill()
        return


def _event(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
