"""`policywatch serve`: APScheduler runs every source's crawl and every digest's send on their cron schedules.

Jobs live in state.db (APScheduler's SQLAlchemy job store, table ``scheduler_jobs``), so a restart knows
when each job was last due. On start, jobs are brought in line with config.toml; a job whose schedule is
unchanged keeps its stored next run time, so the runs it missed while the service was down are coalesced
into one run now (``coalesce``, no misfire limit). Each job has at most one running instance: a crawl still
running when its next time comes is skipped, not doubled (and policywatch.crawler.run's per-source lock also keeps out
a manual `policywatch crawl`). Every run, skip and error is written to ``job_runs`` and logs/serve.log.
Without a [cluster], crawls run in the service's own warm crawl workers (policywatch.scheduler.pool: one process per CPU
that imports Scrapy once), which `policywatch crawl` uses too while the service runs (policywatch.scheduler.control);
with one, the service only queues them for `policywatch worker`s. SIGTERM or SIGINT stops the service cleanly: no
new runs start, running crawls wind down, sends stop between messages, and the service waits for them.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import sqlalchemy
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from policywatch.core.cron import cron_trigger
from policywatch.core.store import Store
from policywatch.scheduler import jobs
from policywatch.scheduler.control import ControlServer
from policywatch.scheduler.pool import LocalPool

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.triggers.cron import CronTrigger

    from policywatch.core.config import Config

log = logging.getLogger("policywatch.serve")
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


@dataclass(frozen=True)
class Wanted:
    """A job as config.toml describes it."""

    id: str
    func: str
    args: tuple[str, ...]
    trigger: CronTrigger
    executor: str


def wanted_jobs(config: Config) -> list[Wanted]:
    """One crawl job per source and one send job per digest that has somewhere to go: mail is configured, or
    the digest has notify URLs."""
    # A PostgreSQL URL holds a password: the stored jobs name no database, and find it in the service's
    # environment (policywatch.scheduler.jobs.DB_VARIABLE).
    base = (str(config.path.resolve()), "" if config.postgres else str(config.db.resolve()))
    wanted = [Wanted(f"crawl:{s.name}", "policywatch.scheduler.jobs:crawl_source", (*base, s.name),
                     cron_trigger(s.schedule, config.zone), "crawls") for s in config.sources]
    wanted += [Wanted(f"digest:{d.name}", "policywatch.scheduler.jobs:send_digest_issue", (*base, d.name),
                      cron_trigger(d.cron, config.zone), "mail")
               for d in config.digests if config.smtp is not None or d.notify]
    return wanted


def job_store(config: Config) -> SQLAlchemyJobStore:
    """APScheduler's job store in state.db (table ``scheduler_jobs``), or in the PostgreSQL database."""
    if isinstance(config.db, str):  # PostgreSQL: the same database, through SQLAlchemy's psycopg dialect
        url = "postgresql+psycopg://" + config.db.split("://", 1)[1]
        return SQLAlchemyJobStore(url=url, tablename="scheduler_jobs", engine_options={"pool_pre_ping": True})
    return SQLAlchemyJobStore(url=f"sqlite:///{config.db.resolve()}", tablename="scheduler_jobs",
                              engine_options={"connect_args": {"timeout": 30}})


def build_scheduler(config: Config) -> BackgroundScheduler:
    return BackgroundScheduler(
        jobstores={"default": job_store(config)}, timezone=config.zone, job_defaults=JOB_DEFAULTS,
        executors={"crawls": ThreadPoolExecutor(4), "mail": ThreadPoolExecutor(1), "default": ThreadPoolExecutor(1)},
    )


def rename_stored_functions(config: Config, wanted: list[Wanted]) -> list[str]:
    """Stored jobs whose function is spelled as before PolicyWatch's modules moved under the ``policywatch``
    package (the same reference without its "policywatch." prefix) get today's spelling, in place; their ids.

    APScheduler drops a stored job whose function it cannot import, and its next run time with it: the first start
    after an upgrade would then not know the runs missed while the service was down. Only references to a function
    the service schedules are renamed; rows that do not unpickle are left to APScheduler, which drops them."""
    functions = {want.func for want in wanted}
    store = job_store(config)
    table = store.jobs_t
    renamed = []
    try:
        with store.engine.begin() as connection:
            if not sqlalchemy.inspect(connection).has_table(table.name, schema=table.schema):
                return []
            for job_id, blob in connection.execute(sqlalchemy.select(table.c.id, table.c.job_state)).all():
                try:
                    state = pickle.loads(blob)
                    func = state["func"]
                except Exception:  # APScheduler reports and drops such a row itself
                    continue
                if isinstance(func, str) and f"policywatch.{func}" in functions:
                    state["func"] = f"policywatch.{func}"
                    connection.execute(sqlalchemy.update(table).where(table.c.id == job_id).values(
                        job_state=pickle.dumps(state, store.pickle_protocol)))
                    renamed.append(job_id)
    finally:
        store.engine.dispose()
    for job_id in renamed:
        log.info("%s: stored before the upgrade; its function is now named under policywatch", job_id)
    return renamed


def sync_jobs(scheduler: BackgroundScheduler, wanted: list[Wanted], now: datetime) -> None:
    """Make the stored jobs match config; unchanged jobs keep their next run time (so missed runs are seen)."""
    stored = {job.id: job for job in scheduler.get_jobs()}
    for want in wanted:
        job = stored.pop(want.id, None)
        if job is not None and _same(job, want):
            missed = missed_runs(job, now)
            if missed:
                log.info("%s: missed %d run(s) while stopped; running it once now", want.id, missed)
            continue
        scheduler.add_job(want.func, trigger=want.trigger, args=want.args, id=want.id, name=want.id,
                          executor=want.executor, replace_existing=True)
        log.info("%s: scheduled (%s)", want.id, want.trigger)
    for job_id in stored:
        scheduler.remove_job(job_id)
        log.info("%s: removed (no longer in config)", job_id)


def _same(job: Job, want: Wanted) -> bool:
    return (job.func_ref == want.func and tuple(job.args) == want.args and repr(job.trigger) == repr(want.trigger)
            and job.executor == want.executor)


def missed_runs(job: Job, now: datetime, limit: int = 100_000) -> int:
    """How many of a job's fire times are already past (what coalescing folds into one run)."""
    count, when = 0, job.next_run_time
    while when is not None and when <= now and count < limit:
        count += 1
        when = job.trigger.get_next_fire_time(when, now)
    return count


class RunLog:
    """APScheduler's events → log lines, and ``job_runs`` rows for runs that did not happen (skipped, missed).

    Runs that happen write their own rows (see policywatch.scheduler.jobs).
    """

    def __init__(self, config: Config) -> None:
        self.config = config

    def __call__(self, event: Any) -> None:
        if isinstance(event, JobSubmissionEvent) and event.code == EVENT_JOB_MAX_INSTANCES:
            with Store(self.config.db) as store:
                store.log_job_event(event.job_id, "skipped", "the previous run is still going")
            log.warning("%s: skipped, the previous run is still going", event.job_id)
        elif isinstance(event, JobExecutionEvent) and event.code == EVENT_JOB_MISSED:
            with Store(self.config.db) as store:
                store.log_job_event(event.job_id, "missed", f"scheduled {event.scheduled_run_time}")
        elif isinstance(event, JobExecutionEvent) and event.code == EVENT_JOB_EXECUTED:
            log.info("%s: done — %s", event.job_id, event.retval)
        elif isinstance(event, JobExecutionEvent) and event.code == EVENT_JOB_ERROR:
            log.error("%s: failed — %s: %s", event.job_id, type(event.exception).__name__, event.exception)


def serve(config: Config, ready: threading.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT; see the module docstring."""
    log_to(config)
    if config.postgres:
        os.environ[jobs.DB_VARIABLE] = str(config.db)
    with Store(config.db) as store:
        store.sync_sources(config.sources)
        store.mark_interrupted_runs()  # crawls of a service that was killed
    wanted = wanted_jobs(config)
    rename_stored_functions(config, wanted)
    scheduler = build_scheduler(config)
    scheduler.add_listener(RunLog(config), EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_JOB_EXECUTED
                           | EVENT_JOB_ERROR)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    jobs.STOP.clear()
    pool = control = None
    scheduler.start(paused=True)
    try:
        if config.cluster is None:
            pool = jobs.POOL = LocalPool(config)
            pool.warm()
            control = ControlServer(config, pool)
            log.info("%d warm crawl worker(s) ready", pool.size)
        sync_jobs(scheduler, wanted, datetime.now(config.zone))
        if config.smtp is None and config.digests:
            log.warning("no [smtp] table: digests are not sent by this service")
        scheduler.resume()
        for job in sorted(scheduler.get_jobs(), key=lambda j: j.next_run_time):
            log.info("%s: next run %s", job.id, job.next_run_time.isoformat(timespec="seconds"))
        log.info("serving %d jobs; stop with SIGTERM or Ctrl-C", len(scheduler.get_jobs()))
        if ready is not None:
            ready.set()
        stopping.wait()
    finally:
        scheduler.pause()
        jobs.STOP.set()  # running crawls wind down; sends stop between messages
        if control is not None:
            control.close()
        if pool is not None:
            pool.stop()
            jobs.POOL = None
        scheduler.shutdown(wait=True)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        log.info("stopped")


class ZonedFormatter(logging.Formatter):
    """Log lines stamped in the config's ``timezone`` with its offset ("2023-12-01 09:30:00+0800"), as every time
    PolicyWatch shows is, whatever zone the machine runs in (servers often run in UTC)."""

    def __init__(self, fmt: str, zone: tzinfo) -> None:
        super().__init__(fmt)
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, self.zone).strftime(datefmt or "%Y-%m-%d %H:%M:%S%z")


def log_to(config: Config, file_name: str = "serve.log", *names: str) -> None:
    """Log lines to stderr and to logs/<file_name> beside state.db: from every logger, or from ``names`` only
    (a worker's Scrapy has the root logger, and its crawl.log)."""
    folder = config.state_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    formatter = ZonedFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", zone=config.zone)
    for logger in [logging.getLogger(name) for name in names] or [logging.getLogger()]:
        logger.setLevel(logging.INFO)
        logger.propagate = not names
        for handler in (logging.StreamHandler(), logging.FileHandler(folder / file_name, encoding="utf-8")):
            handler.setFormatter(formatter)
            logger.addHandler(handler)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
