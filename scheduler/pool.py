"""`serve`'s own warm crawl workers, for a deployment without a [cluster]: one process per CPU by default.

Each process imports Scrapy once and keeps its reactor running (policywatch.crawler.warm, in a thread: the process's
main thread takes jobs from the pool), so a scheduled crawl costs its requests, not a process start. A job is a crawl
of some sources into one run (policywatch.scheduler.crawljob), the job a `policywatch worker` takes from Redis. The
processes are a ``concurrent.futures.ProcessPoolExecutor``: it hands each job to an idle process and each result back; a
process that dies takes only its own job with it (the run is then 'interrupted'), and the pool is started afresh.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.util import Finalize
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policywatch.core.config import Config
    from policywatch.scheduler.crawljob import CrawlJobs

STOP_WAIT = 60.0  # seconds a pool process waits for its reactor to stop as it exits
_JOBS: CrawlJobs | None = None  # in a pool process: its warm crawler's jobs


class WorkerDied(Exception):
    """A pool process died during a job (killed, out of memory): the job is lost, its run 'interrupted'."""


def _start(config_path: str, db_path: str) -> None:
    """A pool process's start: load config, start the reactor, take SIGTERM as "hand the jobs back"."""
    global _JOBS
    from policywatch.core import config as config_module
    from policywatch.crawler.warm import WarmCrawler
    from policywatch.scheduler.crawljob import CrawlJobs

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches serve's whole process group: serve decides
    config = config_module.load(config_path, db_path)
    crawler = WarmCrawler(config, log_file=config.state_dir / "logs" / "crawl.log")
    running = threading.Event()
    reactor = threading.Thread(target=crawler.run, args=(running.set,), name="reactor", daemon=True)
    reactor.start()
    running.wait()
    crawler.prime()
    # At the process's end the reactor stops (its thread pool's threads would otherwise keep the process alive).
    Finalize(None, lambda: (crawler.shutdown(), reactor.join(STOP_WAIT)), exitpriority=10)
    _JOBS = CrawlJobs(config_path, db_path, crawler)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: _JOBS.stop())


def _crawl(names: list[str], recheck_all: bool) -> dict[str, Any]:
    assert _JOBS is not None
    return _JOBS.crawl_sources(names, recheck_all)


def _warm() -> int:
    return os.getpid()


class LocalPool:
    """Warm crawl processes of one `serve`; see the module docstring. Thread-safe: crawl jobs come from the
    scheduler's threads and from `policywatch crawl` (policywatch.scheduler.control)."""

    def __init__(self, config: Config, size: int | None = None) -> None:
        self.size = size or config.crawl.processes or os.cpu_count() or 1
        self._args = (str(config.path), str(config.db))
        self._lock = threading.Lock()
        self._executor = self._new()
        self._broken = False  # a process died: the next job starts a new executor

    def _new(self) -> ProcessPoolExecutor:
        # spawn, not fork: serve already runs threads (the scheduler's), which a forked child would inherit stuck.
        return ProcessPoolExecutor(self.size, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start, initargs=self._args)

    def warm(self) -> None:
        """Start every process now, not at the first job, and wait until each runs its reactor."""
        with self._lock:
            futures = [self._executor.submit(_warm) for _ in range(self.size)]
        for future in futures:
            future.result()

    def submit(self, names: list[str], recheck_all: bool = False) -> Future[dict[str, Any]]:
        """Queue a crawl of ``names`` into one run; the future holds its result (policywatch.scheduler.crawljob), or a
        WorkerDied when the process running it died (the pool then starts afresh)."""
        with self._lock:
            if self._broken:
                self._executor, self._broken = self._new(), False
            executor = self._executor
            inner = executor.submit(_crawl, names, recheck_all)
        outer: Future[dict[str, Any]] = Future()

        def settle(done: Future[dict[str, Any]]) -> None:
            if done.cancelled():
                outer.cancel()
            elif isinstance(done.exception(), BrokenProcessPool):
                with self._lock:
                    self._broken = self._broken or self._executor is executor
                outer.set_exception(WorkerDied(f"the crawl worker running {', '.join(names)} died; its run is "
                                               "marked interrupted"))
            elif done.exception() is not None:
                outer.set_exception(done.exception())
            else:
                outer.set_result(done.result())

        inner.add_done_callback(settle)
        return outer

    def crawl(self, names: list[str], recheck_all: bool = False) -> dict[str, Any]:
        """A crawl of ``names`` into one run, waited for."""
        return self.submit(names, recheck_all).result()

    def stop(self) -> None:
        """Hand the running jobs back (their runs marked 'stopped', what is in flight stored), then end the
        processes; queued jobs are cancelled."""
        for process in multiprocessing.active_children():
            if process.is_alive():
                process.terminate()  # SIGTERM: the process's jobs stop gracefully (see _start)
        with self._lock:
            self._executor.shutdown(wait=True, cancel_futures=True)
