"""Start a crawl subprocess, follow its progress, and record how each source fared; the caller shows it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from policywatch.core.model import reported_warnings
from policywatch.core.store import Store, now_iso
from policywatch.crawler import processes
from policywatch.crawler.health import troubled, update_alerts
from policywatch.crawler.processes import ForkedCrawl

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from policywatch.core.config import Config

IN_PROCESS_PAGES = 200  # a crawl expected to fetch no more pages than this runs in the calling process
ALL_SKIPPED = 3  # policywatch.crawler.run's exit code when another process holds every source it was given
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
    runs: tuple[int, ...] = ()  # when several runs are shown as one (jobs of workers, one run per source)
    broken: dict[str, str] = field(default_factory=dict)  # sources this run left broken or unreachable: why
    warnings: list[dict[str, Any]] = field(default_factory=list)  # what the run's report warns of (see reported)


def crawl(
    config: Config,
    sources: Iterable[str] = (),
    recheck_all: bool = False,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    timeout: float | None = None,
    stop: threading.Event | None = None,
    here: bool = False,
) -> CrawlResult:
    """Run ``python -m policywatch.crawler.run`` for ``sources`` (all when empty) and wait for it: forked from this
    process when it can (policywatch.crawler.processes); with ``here`` (see :func:`runs_here`), crawl in this process
    instead, which spares the crawl processes' start.

    The sources are shared out among up to ``[crawl] processes`` crawl processes (one per CPU by default),
    which all record into one run: extraction and storage are CPU work, and one Python process uses one core.
    Progress arrives as JSON lines on one pipe and is passed to ``on_event``. A crawl still running after
    ``timeout`` seconds, or when ``stop`` is set, gets SIGTERM (Scrapy's graceful shutdown), then SIGKILL
    after STOP_GRACE; what it stored stays stored. Afterwards each source's run is summed up in state.db and
    its alert opened or closed (see policywatch.crawler.health), whatever the outcome.
    """
    names = list(sources) or [s.name for s in config.sources]
    if here and processes.reactor_free():
        with hold_open(config):
            return _crawl_here(config, names, recheck_all, on_event, timeout, stop)
    return _crawl_in_processes(config, names, recheck_all, on_event, timeout, stop)


def hold_open(config: Config) -> Store:
    """A store to keep open while a crawl's short-lived ones come and go. SQLite checkpoints the WAL into the
    database, and syncs it to disk, whenever a file's last connection closes: without one held open, every
    step of a crawl that opens and closes the store (the run's start and end, each crawler's pipeline) pays for
    that, a third of a small crawl's wall time."""
    return Store(config.db, verify=False)


def _crawl_in_processes(config: Config, names: list[str], recheck_all: bool,
                        on_event: Callable[[dict[str, Any]], None] | None, timeout: float | None,
                        stop: threading.Event | None) -> CrawlResult:
    """The crawl of :func:`crawl` in crawl processes: forked from this one before the store is opened, when it can
    (policywatch.crawler.processes), else new interpreters."""
    groups = shards(config, names)
    # One pipe for every process's events: each event line is one write(), and writes under the pipe buffer
    # (4 KB) arrive whole, so lines from several processes do not interleave.
    # stderr goes to a file, not a pipe: a chatty process can never block on it.
    reading, writing = os.pipe()
    with open(reading, encoding="utf-8", errors="replace") as events, open(writing, "wb") as event_pipe, \
            tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        forked = _fork_crawl_processes(config, len(groups), event_pipe.fileno(), err.fileno())
        try:
            with hold_open(config) as store:
                started = now_iso()
                run_id = begin_run(config, names)
                # The crawl processes inherit the run's lock: the run stays 'running', not 'interrupted', while any
                # lives.
                run_lock = store.run_lock(run_id)
                running = _start(config, run_id, run_lock, recheck_all, groups, forked, event_pipe.fileno(), err)
                event_pipe.close()  # the crawl processes hold it: the events end with the last of them
                skipped: list[str] = []
                outcome = _follow(running, events, skipped, on_event, timeout, stop)
                failed = [p.returncode for p in running
                          if p.returncode != 0 and not (p.returncode == ALL_SKIPPED and skipped)]
                err.seek(0)
                last = err.read().strip().splitlines()[-1:]
                why = (last[0] if last else f"exit code {failed[0]}") if failed else ""
                return _close(config, run_id, names, skipped, "failed" if failed and outcome == "ok" else outcome,
                              started, why)
        finally:
            for process in forked:
                process.cancel()  # one never started (the run could not begin); a started one ends on its own


def _fork_crawl_processes(config: Config, count: int, stdout: int, stderr: int) -> list[ForkedCrawl]:
    """``count`` crawl processes forked now, waiting for their arguments, with what a crawl imports loaded first;
    none when this process cannot fork them (policywatch.crawler.processes.can_fork)."""
    if not processes.can_fork():
        return []
    from policywatch.crawler.run import preload

    preload(config)
    return [ForkedCrawl(stdout, stderr) for _ in range(count)]


def _start(config: Config, run_id: int, run_lock: int | None, recheck_all: bool, groups: list[list[str]],
           forked: list[ForkedCrawl], stdout: int, stderr: IO[str]) -> list[ForkedCrawl] | list[subprocess.Popen]:
    """Start run ``run_id``'s crawl, a group of sources per process, each given the run's lock: in the ``forked``
    processes, or when there are none in new interpreters."""
    fds = [run_lock] if run_lock is not None else []
    # A PostgreSQL URL goes to the crawl processes in their environment, where only their user can read its password.
    db = ["--db", str(config.db)] if not config.postgres else []
    env = {"POLICYWATCH_DB": str(config.db)} if config.postgres else {}
    log_file = config.state_dir / "logs" / "crawl.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # --watch-parent: each process's stdin is a pipe (a forked one's, a socket) this process holds and never writes
    # (after a forked one's arguments). When this process dies, however it dies, it closes and the crawl winds down
    # instead of going on.
    args = ["--config", str(config.path), *db, "--run", str(run_id), "--events", "--log-file", str(log_file),
            "--watch-parent", *(["--recheck-all"] * recheck_all)]
    if not forked:
        return [processes.spawn([*args, *group], stdout, stderr, env, fds) for group in groups]
    for process, group in zip(forked, groups, strict=True):
        process.start([*args, *group], env, fds)
    return forked


def _follow(running: list[ForkedCrawl] | list[subprocess.Popen], events: IO[str], skipped: list[str],
            on_event: Callable[[dict[str, Any]], None] | None, timeout: float | None,
            stop: threading.Event | None) -> str:
    """Pass the crawl processes' events to ``on_event`` (noting in ``skipped`` the sources another process held) until
    every process has ended: 'ok', or 'timed out' or 'stopped' when it was cut short (see :func:`_stop_when`)."""
    ended, interrupted = threading.Event(), []
    watcher = threading.Thread(target=_stop_when, args=(running, ended, interrupted, timeout, stop), daemon=True)
    watcher.start()
    for line in events:
        event = _event(line)
        if event.get("event") == "skipped":
            skipped.append(event["source"])
        if event and on_event is not None:
            on_event(event)
    for process in running:
        process.wait()
        process.stdin.close()
    ended.set()
    watcher.join()
    return interrupted[0] if interrupted else "ok"


def _close(config: Config, run_id: int, names: list[str], skipped: list[str], outcome: str, started: str,
           why: str) -> CrawlResult:
    """End a crawl's run as ``outcome`` ('failed' for ``why``): its result, or the CrawlError that says how it
    ended when it did not end well."""
    result = end_run(config, run_id, names, skipped, outcome, started)
    if outcome == "failed":
        raise CrawlError(f"crawl failed: {why}")
    if outcome != "ok":
        raise CrawlError(f"crawl {outcome}")
    if len(skipped) == len(names):
        raise CrawlError("crawl skipped: every source asked for is being crawled by another process")
    return result


def runs_here(config: Config, names: list[str], recheck_all: bool) -> bool:
    """Whether a crawl is small enough to run in the calling process: a lists-only scheduled crawl should not
    pay for starting crawl processes (about a second of CPU each, to import Scrapy) to fetch a few pages.

    Small means known to be small: every source has been crawled before, and the pages the crawl is expected to
    fetch (each source's list page and its due documents, or every document with ``recheck_all``) are at most
    IN_PROCESS_PAGES. A first crawl (its size unknown until its lists are read) and a browser source get crawl
    processes.
    """
    if any(config.source(n).fetcher == "browser" for n in names) or not config.db_exists():
        return False
    with Store(config.db, read_only=True) as store:
        counts = store.due_counts(names, now_iso())
    if any(name not in counts for name in names):
        return False
    expected = sum(1 + (stored if recheck_all else due) for stored, due in counts.values())
    return expected <= IN_PROCESS_PAGES


def _crawl_here(config: Config, names: list[str], recheck_all: bool,
                on_event: Callable[[dict[str, Any]], None] | None, timeout: float | None,
                stop: threading.Event | None) -> CrawlResult:
    """The crawl of :func:`crawl`, in this process: the main thread runs the reactor (policywatch.crawler.warm), a
    thread runs the crawl. SIGINT or SIGTERM (or ``stop``) winds it down as they would a crawl process."""
    from policywatch.crawler.run import source_locks
    from policywatch.crawler.warm import WarmCrawler

    held = source_locks(config.state_dir / "locks", names)
    skipped = [n for n in names if n not in held]
    for name in skipped:
        if on_event is not None:
            on_event({"event": "skipped", "source": name})
    started = now_iso()
    run_id = begin_run(config, names)
    ended: dict[str, Any] = {}
    try:
        if held:
            (config.state_dir / "logs").mkdir(parents=True, exist_ok=True)
            warm = WarmCrawler(config, log_file=config.state_dir / "logs" / "crawl.log")
            sources = tuple(config.source(n) for n in names if n in held)

            def job() -> None:
                try:
                    ended["outcome"] = warm.crawl(config, sources, run_id, recheck_all, timeout, events=on_event)
                except BaseException as e:  # re-raised below, in the main thread
                    ended["error"] = e
                finally:
                    warm.shutdown()

            def wind_down(signum: int, _frame: object) -> None:
                signal.signal(signum, previous[signum])  # a second signal is not gentle
                warm.stop_all()

            previous = {s: signal.signal(s, wind_down) for s in (signal.SIGINT, signal.SIGTERM)}
            if stop is not None:
                threading.Thread(target=lambda: stop.wait() and warm.stop_all(), daemon=True).start()
            try:
                warm.run(lambda: threading.Thread(target=job, name="crawl", daemon=True).start())
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
    finally:
        for handle in held.values():
            handle.close()
    if "error" in ended:
        end_run(config, run_id, names, skipped, "failed", started)
        raise ended["error"]
    outcome = ended.get("outcome")
    if outcome is not None and outcome.fatal:
        return _close(config, run_id, names, skipped, "failed", started,
                      f"programming error, crawl stopped: {outcome.fatal}")
    ended_as = "ok" if outcome is None or outcome.ended == "finished" else outcome.ended
    return _close(config, run_id, names, skipped, ended_as, started, "")


def begin_run(config: Config, names: list[str]) -> int:
    """Record a run of ``names``, owned by this process until :func:`end_run`."""
    with Store(config.db) as store:
        store.sync_sources(config.sources)
        return store.start_run(names)


def end_run(config: Config, run_id: int, names: list[str], skipped: list[str], outcome: str,
            started: str) -> CrawlResult:
    """Close a run however it went ('ok', 'failed', 'timed out', 'stopped', 'interrupted'): each source's run is
    summed up and its alert opened or closed (policywatch.crawler.health)."""
    crawled = [n for n in names if n not in skipped]
    with Store(config.db) as store:
        store.finish_run(run_id, "skipped" if not crawled else "finished" if outcome == "ok" else outcome)
        store.record_source_runs(run_id, crawled, outcome, started, now_iso())
        alerts = update_alerts(config, store, crawled)
        return CrawlResult(run_id, store.run_summary(run_id), store.run_errors(run_id), skipped, alerts,
                           broken=troubled(config, store, crawled),
                           warnings=reported(store.run_warnings(run_id)))


def reported(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A run's warnings worth a line in its report (policywatch.core.model.reported_warnings: a ``[sources.detail]``
    selector that matched nothing, a list page with more items than it may follow), once per source and warning: on
    how many pages, and the first of them (its fetch rows, see Store.run_warnings, keep each page's warnings
    joined)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        for warning in reported_warnings(row["warning"]):
            entry = found.setdefault((row["source"], warning),
                                     {"source": row["source"], "warning": warning, "pages": 0, "url": row["url"]})
            entry["pages"] += row["pages"]
            entry["url"] = min(entry["url"], row["url"])
    return sorted(found.values(), key=lambda entry: (entry["source"], entry["warning"]))


def combine(results: list[dict[str, Any]]) -> CrawlResult:
    """The runs of several crawl jobs (workers' or serve's, one run per source or share) as one result, for one
    table: each job's result carries its run's rows and errors (policywatch.scheduler.crawljob)."""
    combined = CrawlResult(run_id=min(r["run_id"] for r in results), summary=[], errors=[])
    for result in results:
        combined.skipped += result.get("skipped", [])
        if result["outcome"] == "skipped":
            continue
        combined.summary += result["rows"]
        combined.errors += result["errors"]
        combined.alerts += result.get("alerts", [])
        combined.broken |= result.get("broken", {})
        combined.warnings += result.get("warnings", [])
    combined.runs = tuple(sorted(r["run_id"] for r in results))
    return combined


def shards(config: Config, names: list[str], processes: int | None = None) -> list[list[str]]:
    """Share sources out among the crawl processes (``processes``, default ``[crawl] processes`` or one per CPU):
    browser sources together (each still runs its own Chromium, so the other processes stay plain HTTP), the rest
    dealt out to the emptiest shard in config order."""
    count = max(1, min(processes or config.crawl.processes or os.cpu_count() or 1, len(names)))
    groups: list[list[str]] = [[] for _ in range(count)]
    browser = [n for n in names if config.source(n).fetcher == "browser"]
    groups[0].extend(browser)
    for name in names:
        if name not in browser:
            min(groups, key=len).append(name)
    return [g for g in groups if g]


def _stop_when(processes: list[subprocess.Popen], ended: threading.Event, interrupted: list[str],
               timeout: float | None, stop: threading.Event | None) -> None:
    """Watch a crawl: on timeout or ``stop``, ask it to wind down, then make it; says which in ``interrupted``.
    A process that failed (a programming error, say) stops the others too: their run is failed already."""
    deadline = time.monotonic() + timeout if timeout else None
    while not ended.wait(0.2):
        timed_out = deadline is not None and time.monotonic() >= deadline
        failed = any(p.poll() not in (None, 0, ALL_SKIPPED) for p in processes)
        if not timed_out and not failed and not (stop is not None and stop.is_set()):
            continue
        if not failed:
            interrupted.append("timed out" if timed_out else "stopped")
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        if not ended.wait(STOP_GRACE):
            for process in processes:
                if process.poll() is None:
                    process.kill()
        return


def _event(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
