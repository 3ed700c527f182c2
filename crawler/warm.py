"""A crawl process that stays up: Python, Scrapy and the reactor start once, and crawl jobs come to it.

A crawl process pays about a second of CPU to start Python and import Scrapy before its first request; a
worker (policywatch.scheduler.worker) that crawls hundreds of sources a day pays it once. The reactor runs in the main
thread (Twisted and asyncio want it there, and it never stops between jobs); ``crawl()`` is called from a job
thread and blocks until that job's crawlers are done. Each job sets its crawlers up exactly as a crawl process
does (policywatch.crawler.run.prepare), so the two crawl alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy import Spider, signals
from scrapy.crawler import AsyncCrawlerProcess, Crawler
from scrapy.settings import Settings
from scrapy.utils.defer import deferred_from_coro
from twisted.internet import defer
from twisted.internet.threads import blockingCallFromThread

from policywatch.crawler.run import Shutdown, collect_less, prepare
from policywatch.crawler.settings import build_settings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from policywatch.core.config import Config, Source

@dataclass
class Outcome:
    """How a job's crawl ended: 'finished', 'timed out', 'stopped' (the worker is stopping) or 'failed', when
    ``fatal`` names the programming error that stopped it (policywatch.crawler.faults)."""

    ended: str = "finished"
    fatal: str | None = None


class _Nothing(Spider):
    """A spider with no requests: what :meth:`WarmCrawler.prime` crawls."""

    name = "policywatch-prime"

    async def start(self) -> Any:
        return
        yield


class WarmCrawler:
    """One long-lived Scrapy process; see the module docstring."""

    def __init__(self, config: Config, log_file: Path | None = None) -> None:
        settings = Settings(build_settings(config.crawl))
        if log_file is not None:
            settings.set("LOG_FILE", str(log_file))
        self.process = AsyncCrawlerProcess(settings)
        collect_less()
        self.db = config.db
        self._jobs: dict[int, tuple[list[Crawler], Outcome]] = {}
        self.stopping = False  # stop_all was called: a job that comes after it does not start

    def run(self, ready: Callable[[], None] | None = None) -> None:
        """Run the reactor in this (the main) thread until :meth:`shutdown`; ``ready`` is called once it runs."""
        from twisted.internet import reactor

        if ready is not None:
            reactor.callWhenRunning(ready)
        self.process.start(stop_after_crawl=False, install_signal_handlers=False)

    def prime(self) -> None:
        """Load now what the first job would otherwise load (from a job thread): the pipeline, the spiders and
        extraction, and Scrapy's middlewares and download handlers, by crawling nothing once."""
        from twisted.internet import reactor

        import policywatch.crawler.pipelines
        import policywatch.crawler.spiders.generic  # noqa: F401 (imported for what it loads)

        settings = self.process.settings.copy()
        settings.set("PW_DB", str(self.db))  # the store's pipeline opens the store, and writes nothing
        blockingCallFromThread(reactor, lambda: defer.Deferred.fromFuture(self.process.crawl(
            Crawler(_Nothing, settings))))

    def shutdown(self) -> None:
        """Stop the reactor (from any thread); call after the jobs have ended."""
        from twisted.internet import reactor

        reactor.callFromThread(reactor.stop)

    def crawl(self, config: Config, sources: tuple[Source, ...], run_id: int, recheck_all: bool,
              timeout: float | None = None, events: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
        """Crawl ``sources`` into run ``run_id`` (from a job thread, never the reactor's) and wait for the end;
        ``events`` is given each page's progress event (policywatch.crawler.pipelines), on the reactor's thread."""
        from twisted.internet import reactor

        return blockingCallFromThread(reactor, self._crawl, config, sources, run_id, recheck_all, timeout, events)

    def stop_all(self) -> None:
        """Every running job winds down as a stopped crawl does: what is in flight is stored, the rest is left
        for whoever takes the job next (from any thread)."""
        from twisted.internet import reactor

        def stop() -> None:
            self.stopping = True
            for crawlers, outcome in list(self._jobs.values()):
                self._stop(crawlers, outcome, "stopped")

        reactor.callFromThread(stop)

    @defer.inlineCallbacks
    def _crawl(self, config: Config, sources: tuple[Source, ...], run_id: int, recheck_all: bool,
               timeout: float | None, events: Callable[[dict[str, Any]], None] | None) -> Any:
        from twisted.internet import reactor

        if self.stopping:
            return Outcome(ended="stopped")
        settings, planned = prepare(config, sources, run_id, recheck_all, events=events or False)
        outcome, crawlers = Outcome(), []
        shutdown = Shutdown(lambda: self._stop(crawlers, outcome, "failed"))
        for crawl in planned:
            crawler = Crawler(crawl.spider, crawl.settings if crawl.settings is not None else settings)
            shutdown.watch(crawler)
            crawler.signals.connect(_stopper(crawler, outcome), signal=signals.engine_started, weak=False)
            crawlers.append(crawler)
        self._jobs[run_id] = (crawlers, outcome)
        timer = reactor.callLater(timeout, self._stop, crawlers, outcome, "timed out") if timeout else None
        try:
            # AsyncCrawlerProcess.crawl gives an asyncio task: waited for as a Deferred on the reactor's loop.
            yield defer.DeferredList([defer.Deferred.fromFuture(self.process.crawl(c, **p.kwargs))
                                      for c, p in zip(crawlers, planned, strict=True)])
        finally:
            del self._jobs[run_id]
            outcome.fatal = shutdown.fatal
            if timer is not None and timer.active():
                timer.cancel()
        return outcome

    def _stop(self, crawlers: list[Crawler], outcome: Outcome, why: str) -> None:
        if outcome.ended == "finished":
            outcome.ended = why
        for crawler in crawlers:
            if crawler.engine is not None and crawler.engine.running:
                deferred_from_coro(crawler.stop_async())  # an asyncio task: the coroutine awaits asyncio futures
            # A crawler still opening its spider is stopped as its engine starts (_stopper).


def _stopper(crawler: Crawler, outcome: Outcome) -> Callable[[], None]:
    """A crawler's engine_started handler: a stop asked while it was starting (Scrapy's own stop then finds nothing
    running yet to stop, and the crawl would go on) takes effect now."""

    def stop_if_asked() -> None:
        if outcome.ended != "finished":
            crawler.crawling = False
            deferred_from_coro(crawler.engine.stop_async())

    return stop_if_asked
