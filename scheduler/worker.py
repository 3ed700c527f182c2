"""`policywatch worker`: a long-lived crawl worker that takes crawl jobs from Redis (policywatch.scheduler.jobqueue).

It imports Scrapy once and keeps its reactor running (policywatch.crawler.warm), so a job costs its requests, not a
process start. Any number of workers, on any number of machines, may take jobs from one Redis; each takes only the
queues it was started with (``--queue browser``), and per-host politeness holds across all of them
(policywatch.crawler.politeness). A job is acknowledged when it has ended, so a worker killed mid-job hands it to
another worker once its heartbeat is missed.

SIGTERM or SIGINT: the running crawls wind down (what is in flight is stored), their jobs go back on the queue
for the next worker, and the process exits. A job that cannot start here (its source unknown to this worker's
config) fails with that message instead of going round.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq import Retry

from policywatch.core import config as config_module
from policywatch.crawler.warm import WarmCrawler
from policywatch.scheduler import jobqueue
from policywatch.scheduler.crawljob import CrawlJobs, HandedBack
from policywatch.scheduler.service import log_to

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("policywatch.worker")
# The loggers whose lines go to logs/worker.log (and stderr). The crawl's own modules log under
# policywatch.crawler.*, with Scrapy, into logs/crawl.log: not "policywatch" as a whole.
WORKER_LOGGERS = ("policywatch.worker", "dramatiq")


def _handed_back(retries: int, exception: BaseException) -> bool:
    """Only a job handed back by a stopping worker goes round again; a failed job stays failed (and says why)."""
    return isinstance(exception, Retry)


def run_worker(config_path: str, db_path: str | None, queues: tuple[str, ...], threads: int,
               ready: Callable[[], None] | None = None) -> None:
    """Take jobs until SIGTERM or SIGINT; see the module docstring."""
    config = config_module.load(config_path, db_path)
    if config.cluster is None:
        raise config_module.ConfigError(config.path, "cluster",
                                        "no [cluster] table: a worker takes jobs from the Redis it names")
    log_to(config, "worker.log", *WORKER_LOGGERS)
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
    crawler = WarmCrawler(config, log_file=config.state_dir / "logs" / "crawl.log")
    redis_broker = jobqueue.broker(config.cluster)
    jobs = CrawlJobs(config_path, db_path, crawler)

    def crawl_source(name: str, recheck_all: bool = False) -> dict[str, Any]:
        try:
            result = jobs.crawl_source(name, recheck_all)
        except HandedBack as e:
            raise Retry(str(e), delay=0) from None
        log.info("crawl:%s: %s", name, result.get("summary") or result["outcome"])
        return result

    dramatiq.Actor(crawl_source, broker=redis_broker, actor_name=jobqueue.ACTOR, queue_name=queues[0],
                   priority=0, options={"retry_when": _handed_back})
    for name in queues:
        redis_broker.declare_queue(name)
    worker = dramatiq.Worker(redis_broker, queues=set(queues), worker_threads=threads)
    worker.queue_prefetch = threads  # a busy worker holds no job that an idle one could take

    def stop() -> None:
        worker.stop()
        redis_broker.close()
        crawler.shutdown()

    def on_signal(signum: int, _frame: object) -> None:
        if jobs.stopping.is_set():
            return
        log.info("received %s: handing the running jobs back and stopping", signal.Signals(signum).name)
        jobs.stop()
        threading.Thread(target=stop, name="worker-stop", daemon=True).start()

    def started() -> None:
        worker.start()
        log.info("worker taking jobs from %s (queues: %s; %d at a time)", _where(config.cluster.redis),
                 ", ".join(queues), threads)
        if ready is not None:
            ready()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    crawler.run(started)
    log.info("stopped")


def _where(url: str) -> str:
    """The Redis URL without its password, for the log."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"
