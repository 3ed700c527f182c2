"""``python -m policywatch.crawler.run``: one crawl of some sources, in its own process.

Scrapy's reactor can start only once per process, and a portal that hangs or
crashes the crawl must not take the caller with it, so every crawl runs
here, in a subprocess. It records a run in state.db and exits 0 when the crawl
finished (individual request failures are data, not exit codes).

A programming error (policywatch.crawler.faults) stops the crawl: exit 1, with one line
on stderr naming it. Started by ``policywatch crawl`` (``--watch-parent``),
the crawl also winds down when that parent is gone, however it died.
"""

from __future__ import annotations

import argparse
import fcntl
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NamedTuple

from scrapy import Spider, signals
from scrapy.crawler import AsyncCrawlerProcess, Crawler
from scrapy.settings import Settings
from scrapy.spiderloader import get_spider_loader
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.misc import load_object

from policywatch.core import config as config_module
from policywatch.core.config import Source
from policywatch.core.store import Store, now_iso
from policywatch.crawler.browser import browser_settings
from policywatch.crawler.crawl import ALL_SKIPPED, STOP_GRACE
from policywatch.crawler.faults import describe_programming_error, is_programming_error
from policywatch.crawler.pipelines import PARENT_GONE, emit
from policywatch.crawler.settings import build_settings
from policywatch.crawler.spiders.generic import ConfigSpider

logger = logging.getLogger(__name__)

# Objects a crawl allocates before Python's cyclic garbage collector looks at the young ones (CPython's default is
# 700). A crawl makes and drops tens of thousands of objects a second (Deferreds, requests, responses, a page's
# element proxies and fields), nearly all freed by reference counting; at the default a young collection ran every
# few milliseconds, each walking the page still being read, and took 8 % of a first crawl's CPU (bench/README.md).
# At 20,000 collections take about 1 %; the cycles among them wait a little longer to be freed.
YOUNG_COLLECTION_THRESHOLD = 20_000


def collect_less() -> None:
    """Set this crawling process's garbage collection threshold (see ``YOUNG_COLLECTION_THRESHOLD``)."""
    _young, *older = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *older)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policywatch.crawler.run", description=__doc__)
    parser.add_argument("sources", nargs="*", help="source names (default: all)")
    parser.add_argument("--config", default="config.toml")
    parser.add_argument("--db", default=os.environ.get("POLICYWATCH_DB"),
                        help="state.db or postgresql:// URL (default: $POLICYWATCH_DB, else the config's db)")
    parser.add_argument("--recheck-all", action="store_true")
    parser.add_argument("--run", type=int, default=None,
                        help="join this run, which the caller started (sources recorded) and finishes")
    parser.add_argument("--events", action="store_true", help="print JSON event lines on stdout")
    parser.add_argument("--log-file", default=None)
    parser.add_argument("--watch-parent", action="store_true",
                        help="stdin is a pipe from the parent process: wind down when it closes (the parent is gone)")
    args = parser.parse_args(argv)
    try:
        config = config_module.load(args.config, args.db)
        sources = config.select(args.sources)
    except config_module.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    held = source_locks(config.state_dir / "locks", [s.name for s in sources])
    for source in sources:
        if source.name not in held:
            print(f"skipping {source.name}: another process is crawling it", file=sys.stderr)
            if args.events:
                emit({"event": "skipped", "source": source.name})
    sources = tuple(s for s in sources if s.name in held)
    if not sources:
        print("error: every source asked for is being crawled by another process", file=sys.stderr)
        return ALL_SKIPPED

    with Store(config.db, verify=args.run is None) as store:  # a run's starter has checked the file
        run_id = args.run
        if run_id is None:
            store.sync_sources(config.sources)
            run_id = store.start_run(s.name for s in sources)

    settings, planned = prepare(config, sources, run_id, args.recheck_all, events=args.events, log_file=args.log_file)
    collect_less()
    process = AsyncCrawlerProcess(settings)
    shutdown = Shutdown(lambda: deferred_from_coro(process.stop()))
    for crawl in planned:
        crawler = Crawler(crawl.spider, crawl.settings) if crawl.settings is not None else \
            process.create_crawler(crawl.spider)
        shutdown.watch(crawler)
        process.crawl(crawler, **crawl.kwargs)
    shutdown.watch_parent(args.watch_parent)
    process.start()

    if args.run is None:
        with Store(config.db) as store:
            store.finish_run(run_id, "failed" if shutdown.fatal else "finished")
    if shutdown.fatal:
        print(f"programming error, crawl stopped: {shutdown.fatal}", file=sys.stderr)
        return 1
    return 0


# The settings naming classes Scrapy imports as a crawl starts: one class each, or a dict of them (a middleware is a
# key, a download handler a value).
COMPONENT_CLASSES = ("SCHEDULER", "SCHEDULER_PRIORITY_QUEUE", "SCHEDULER_MEMORY_QUEUE", "DUPEFILTER_CLASS",
                     "STATS_CLASS", "ITEM_PROCESSOR", "SPIDER_LOADER_CLASS", "LOG_FORMATTER",
                     "REQUEST_FINGERPRINTER_CLASS", "DOWNLOADER", "TWISTED_DNS_RESOLVER", "ROBOTSTXT_PARSER")
COMPONENT_DICTS = ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "EXTENSIONS", "ITEM_PIPELINES", "DOWNLOAD_HANDLERS")


def preload(config: config_module.Config) -> None:
    """Import what a crawl of ``config`` imports only as it starts (the classes its Scrapy settings name, and through
    them the download handler's TLS context), so that crawl processes forked from this process
    (policywatch.crawler.processes) start with it. The reactor is not installed: each crawl process installs its own."""
    settings = Settings(build_settings(config.crawl))
    paths = [settings.get(name) for name in COMPONENT_CLASSES]
    for name in COMPONENT_DICTS:
        components = settings.getwithbase(name)
        paths += [*components, *components.values()]
    for path in paths:
        if isinstance(path, str) and "." in path:
            load_object(path)


class Planned(NamedTuple):
    """One source's crawl, ready to start: its spider, its own settings (None: the crawl's), its arguments."""

    spider: type[Spider]
    settings: Settings | None
    kwargs: dict[str, Any]


def prepare(config: config_module.Config, sources: tuple[Source, ...], run_id: int, recheck_all: bool,
            events: bool | Callable[[dict[str, Any]], None] = False,
            log_file: str | None = None) -> tuple[Settings, list[Planned]]:
    """The Scrapy settings of a crawl into run ``run_id`` and each source's planned crawl: one set-up for a crawl
    process (main) and a warm worker (policywatch.crawler.warm), so both crawl alike.

    ``events``: True prints each page's progress event as a JSON line on stdout, a function is given it.
    A spider file named after a source replaces ConfigSpider for it; a browser source gets settings of its own
    (policywatch.crawler.browser), so only its crawler starts Chromium.
    """
    with Store(config.db, verify=False) as store:
        now = now_iso()
        cap = config.crawl.max_attachments_per_page
        refs = {s.name: store.document_refs(s.name, now, recheck_all, cap) for s in sources}
        attachments = {s.name: store.attachment_refs(s.name) for s in sources}
    settings = Settings(build_settings(config.crawl, config.cluster.redis if config.cluster is not None else ""))
    settings.setdict({
        "PW_DB": str(config.db), "PW_RUN_ID": run_id, "PW_EVENTS": events,
        "PW_RECHECK_DAYS": config.crawl.recheck_days,
        "PW_DUPLICATE_THRESHOLD": config.detect.duplicate_threshold,
    })
    if log_file:
        settings.set("LOG_FILE", log_file)
    loader = get_spider_loader(settings)
    custom = set(loader.list())
    planned = []
    for source in sources:
        own = None
        if source.fetcher == "browser":
            own = settings.copy()
            own.setdict(browser_settings(settings))
        planned.append(Planned(loader.load(source.name) if source.name in custom else ConfigSpider, own,
                               {"source": source, "refs": refs[source.name],
                                "attachments": attachments[source.name]}))
    return settings, planned


class Shutdown:
    """Ends every crawl of this process early, as SIGTERM would (Scrapy's graceful stop: what is in flight is
    stored), for a programming error or a vanished parent.

    A programming error (policywatch.crawler.faults) in a callback or the pipeline is remembered in ``fatal``, and
    main() exits 1 with it. The parent is gone when its end of stdin closes (``--watch-parent``) or the events pipe
    breaks (policywatch.crawler.pipelines.emit); with nobody left to force a stop, the process kills itself if winding
    down takes longer than ``STOP_GRACE``. Watching a pipe works whichever thread started the process and however
    the parent died, even by SIGKILL.
    """

    def __init__(self, stop: Callable[[], object]) -> None:
        self.stop = stop  # stops every crawler this Shutdown watches, gracefully; on the reactor's thread
        self.fatal: str | None = None

    def watch(self, crawler: Crawler) -> None:
        """Stop everything at the first programming error of this crawler."""
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)
        crawler.signals.connect(self.item_error, signal=signals.item_error)

    def spider_error(self, failure: Any, response: Any, spider: Any) -> None:
        self._error(failure.value, getattr(response, "url", None))

    def item_error(self, item: Any, response: Any, spider: Any, failure: Any) -> None:
        self._error(failure.value, getattr(response, "url", None))

    def _error(self, error: BaseException, url: str | None) -> None:
        if self.fatal is not None or not is_programming_error(error):
            return  # a page's own failure: Scrapy has logged it, the crawl goes on
        self.fatal = describe_programming_error(error, url)
        logger.error("programming error, crawl stopped: %s", self.fatal)
        self._stop()

    def _stop(self) -> None:
        """Stop every crawler gracefully (on the reactor's thread); once started, further calls do nothing."""
        self.stop()

    def watch_parent(self, stdin: bool) -> None:
        """Start the threads that notice a vanished parent: stdin's end of file (when ``stdin`` is the parent's
        pipe), or a broken events pipe."""
        if stdin:
            threading.Thread(target=_wait_for_eof, name="parent-stdin", daemon=True).start()
        threading.Thread(target=self._stop_when_parent_gone, name="parent-gone", daemon=True).start()

    def _stop_when_parent_gone(self) -> None:
        from twisted.internet import reactor

        PARENT_GONE.wait()
        logger.warning("the parent process is gone: stopping the crawl")
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline:
            # Asked again each second: a stop asked before a crawler has started would be lost.
            reactor.callFromThread(self._stop)
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGKILL)  # what the parent would have done; state.db stays consistent


def _wait_for_eof() -> None:
    """Block until stdin, a pipe the parent holds open and never writes to, reaches end of file."""
    while True:
        try:
            if not os.read(0, 4096):
                break
        except OSError:
            break
    PARENT_GONE.set()


def source_locks(folder: Path, names: list[str]) -> dict[str, IO[str]]:
    """An exclusive lock per source, held until this process exits (even by SIGKILL): never two crawls of one
    source at once, whoever starts them. Sources locked by another process are left out."""
    folder.mkdir(parents=True, exist_ok=True)
    held = {}
    for name in names:
        handle = (folder / f"{name}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        held[name] = handle
    return held


if __name__ == "__main__":
    sys.exit(main())
