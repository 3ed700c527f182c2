"""A crawl of some sources in a warm crawl process: the job both kinds of worker run.

A `policywatch worker` takes these jobs from Redis, one source each (policywatch.scheduler.worker); `serve` without a
[cluster] hands them to its own warm processes (policywatch.scheduler.pool), one source for a scheduled crawl, a share
of the sources for `policywatch crawl`. Either way the job is the same: take the sources' locks, open a run,
crawl in the process's running reactor (policywatch.crawler.warm), close the run, then mail alerts and update the
archive site (policywatch.scheduler.jobs.after_crawl).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policywatch.core import config as config_module
from policywatch.core.store import now_iso
from policywatch.crawler.crawl import begin_run, end_run, hold_open
from policywatch.crawler.run import source_locks
from policywatch.scheduler.jobs import after_crawl

if TYPE_CHECKING:
    from policywatch.core.store import Store
    from policywatch.crawler.warm import WarmCrawler


class HandedBack(Exception):
    """The worker is stopping: the job ended early (its run marked 'stopped'), for another worker to take."""


class CrawlJobs:
    """The crawl jobs of one warm process. Each sees config.toml as it is, so a fixed selector takes effect on the
    next job without a restart, like `serve`."""

    def __init__(self, config_path: str, db_path: str | None, crawler: WarmCrawler) -> None:
        self.config_path, self.db_path, self.crawler = config_path, db_path, crawler
        self.stopping = threading.Event()
        self._held: Store | None = None  # policywatch.crawler.crawl.hold_open, for as long as the process lives
        self._loaded: tuple[tuple[int, int, int], config_module.Config] | None = None

    def _config(self) -> config_module.Config:
        """config.toml as it is now: read again only when the file changed (inode, size or time), since parsing it
        (hundreds of sources, each one's selectors compiled) costs more CPU than a small job's crawl."""
        info = Path(self.config_path).stat()
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        if self._loaded is None or self._loaded[0] != stamp:
            self._loaded = (stamp, config_module.load(self.config_path, self.db_path))
        return self._loaded[1]

    def stop(self) -> None:
        """Hand every running job back (what is in flight is stored) and take no new one."""
        self.stopping.set()
        self.crawler.stop_all()

    def crawl_source(self, name: str, recheck_all: bool = False) -> dict[str, Any]:
        """One source's crawl, into a run of its own: see :meth:`crawl_sources`."""
        return self.crawl_sources([name], recheck_all)

    def crawl_sources(self, names: list[str], recheck_all: bool = False) -> dict[str, Any]:
        """A crawl of ``names`` into one run: its id, the sources crawled and skipped (another process holds
        them), how it ended, a one-line summary, and the run's table rows and errors (what ``crawl`` prints, so
        that it need not open the store)."""
        if self.stopping.is_set():
            raise HandedBack("the worker is stopping")
        config = self._config()
        sources = config.select(names)
        if self._held is None:
            self._held = hold_open(config)
        held = source_locks(config.state_dir / "locks", names)
        skipped = [n for n in names if n not in held]
        try:
            started = now_iso()
            run_id = begin_run(config, names)
            if not held:  # a manual crawl, or another worker on this machine, is crawling them
                end_run(config, run_id, names, skipped, "ok", started)
                return {"run_id": run_id, "sources": names, "skipped": skipped, "outcome": "skipped"}
            timeout = config.cluster.job_timeout if config.cluster and config.cluster.job_timeout else \
                config.crawl.run_timeout
            crawled = tuple(s for s in sources if s.name in held)
            try:
                outcome = self.crawler.crawl(config, crawled, run_id, recheck_all, timeout)
            except Exception:  # the run is closed, not left 'running' while this worker lives
                end_run(config, run_id, names, skipped, "failed", started)
                raise
            if outcome.ended == "stopped":
                end_run(config, run_id, names, skipped, "stopped", started)
                raise HandedBack("the worker stopped: the job goes back to be taken again")
            result = end_run(config, run_id, names, skipped, "ok" if outcome.ended == "finished" else outcome.ended,
                             started)
            if outcome.fatal:
                raise RuntimeError(f"programming error, crawl stopped: {outcome.fatal}")
            summary = after_crawl(config, result, [s.name for s in crawled])
            return {"run_id": run_id, "sources": names, "skipped": skipped, "outcome": outcome.ended,
                    "summary": summary, "alerts": result.alerts, "rows": result.summary, "errors": result.errors,
                    "broken": result.broken, "warnings": result.warnings}
        finally:
            for handle in held.values():
                handle.close()
