"""What `policywatch serve` runs: a crawl of one source, or one digest's send (mail and chat posts).

These are module-level functions because the job store keeps jobs as textual references
("policywatch.scheduler.jobs:crawl_source") with plain-string arguments; each run reloads config.toml, so a fixed
selector takes effect on the next run without a restart. ``STOP`` is set when the service shuts down:
a running crawl then winds down (SIGTERM, then SIGKILL after a grace period) and a send stops between
two messages, so neither leaves anything half-written.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from policywatch.core import config as config_module
from policywatch.core.store import Store
from policywatch.crawler.crawl import CrawlResult, crawl
from policywatch.deliver.alerts import notify_maintainers
from policywatch.deliver.notify import post_digest
from policywatch.deliver.send import send_digest
from policywatch.digest.period import period_of

if TYPE_CHECKING:
    from policywatch.scheduler.pool import LocalPool

STOP = threading.Event()
# serve's warm crawl workers (policywatch.scheduler.pool), while it runs without a [cluster]
POOL: LocalPool | None = None


DB_VARIABLE = "POLICYWATCH_DB"  # where a PostgreSQL URL waits for the jobs, kept out of the stored job arguments


def _database(db_path: str) -> str:
    """A job's database: the stored argument, or (stored as "" for PostgreSQL, whose URL holds a password) the
    URL the service put in its environment for its jobs."""
    return db_path or os.environ[DB_VARIABLE]


def crawl_source(config_path: str, db_path: str, source: str) -> str:
    """Crawl one source (in one of serve's warm workers, or a crawl process; with the configured time limit);
    returns a one-line summary."""
    db_path = _database(db_path)
    return _logged(f"crawl:{source}", db_path, lambda: _crawl(config_path, db_path, source))


def send_digest_issue(config_path: str, db_path: str, digest: str) -> str:
    """Send the digest's last complete period (as of today in the config's time zone) to whoever lacks it."""
    db_path = _database(db_path)
    return _logged(f"digest:{digest}", db_path, lambda: _send(config_path, db_path, digest))


def _logged(job: str, db_path: str, work: Callable[[], str]) -> str:
    """Run a job with its ``job_runs`` row: opened before, closed after with the outcome and summary."""
    with Store(db_path) as store:
        run = store.start_job_run(job)
    try:
        summary = work()
    except Exception as e:
        stopped = STOP.is_set()  # cut short by a shutdown: expected, not an error
        with Store(db_path) as store:
            store.finish_job_run(run, "stopped" if stopped else "error", f"{type(e).__name__}: {e}")
        if stopped:
            return f"stopped by the shutdown ({e})"
        raise
    with Store(db_path) as store:
        store.finish_job_run(run, "ok", summary)
    return summary


def _crawl(config_path: str, db_path: str, source: str) -> str:
    config = config_module.load(config_path, db_path)
    if config.cluster is not None:
        return _enqueue(config, source)
    if POOL is not None:
        result = POOL.crawl([source])
        return result.get("summary") or f"run {result['run_id']}: {result['outcome']}"
    result = crawl(config, [source], timeout=config.crawl.run_timeout, stop=STOP)
    return after_crawl(config, result, [source])


def after_crawl(config: config_module.Config, result: CrawlResult, sources: list[str]) -> str:
    """What follows a crawl of ``sources``, wherever it ran: alerts mailed and posted, the archive site brought up
    to date; returns the run's one-line summary."""
    with Store(config.db) as store:
        told = notify_maintainers(config, store)
        if result.skipped and not [s for s in sources if s not in result.skipped]:
            return f"run {result.run_id}: skipped, another process is crawling {', '.join(result.skipped)}"
        rows = [r for r in result.summary if r["source"] in sources]
        totals = {k: sum(r[k] for r in rows) for k in ("pages", "new_documents", "new_versions", "errors")}
        summary = (f"run {result.run_id}: {totals['pages']} pages, {totals['new_documents']} new, "
                   f"{totals['new_versions']} new versions, {totals['errors']} errors") if rows else \
            f"run {result.run_id}"
        alerts = "".join(f"; alert: {a}" for a in result.alerts)
        return summary + alerts + (f"; sent {len(told)} alert notice(s)" if told else "") + _site(config, store)


def _enqueue(config: config_module.Config, source: str) -> str:
    """With a [cluster], the service only queues the crawl: a worker runs it (policywatch.scheduler.worker)."""
    from policywatch.scheduler import jobqueue

    redis_broker = jobqueue.broker(config.cluster)
    try:
        (message,) = jobqueue.enqueue(redis_broker, config, [source])
    finally:
        redis_broker.close()
    return f"queued job {message.message_id} on {config.source(source).queue!r}"


def _site(config: config_module.Config, store: Store) -> str:
    """Bring the archive site up to date after a crawl, when the config names its folder."""
    if config.site is None:
        return ""
    from policywatch.archive.build import build_site

    return f"; site: {build_site(config, store, config.site).summary()}"


def _send(config_path: str, db_path: str, digest: str) -> str:
    """Mail the issue (with an [smtp] table) and post it to the digest's notify URLs."""
    config = config_module.load(config_path, db_path)
    spec = config.digest(digest)
    period = period_of(spec.period, datetime.now(config.zone).date()).previous()
    with Store(config.db) as store:
        report = send_digest(config, store, spec, period, stop=STOP) if config.smtp is not None else None
        posts = post_digest(config, store, spec, period, stop=STOP) if spec.notify else None
    summary = "; ".join(r.summary() for r in (report, posts) if r is not None)
    if report is not None and report.server_problem:
        raise RuntimeError(f"{summary}; {report.server_problem}")
    if not all(r.complete for r in (report, posts) if r is not None):
        raise RuntimeError(summary + " (incomplete: retried at the next run or with `policywatch digest send`)")
    return summary
