"""``python -m crawler.run``: one crawl of some sources, in its own process.

Scrapy's reactor can start only once per process, and a portal that hangs or
crashes the crawl must not take the caller with it, so every crawl runs
here, in a subprocess. It records a run in state.db and exits 0 when the crawl
finished (individual request failures are data, not exit codes).
"""

from __future__ import annotations

import argparse
import fcntl
import sys
from pathlib import Path
from typing import IO

from scrapy.crawler import AsyncCrawlerProcess, Crawler
from scrapy.settings import Settings

from crawler.browser import browser_settings
from crawler.pipelines import emit
from crawler.settings import build_settings
from crawler.spiders.generic import ConfigSpider
from policywatch import config as config_module
from policywatch.crawl import ALL_SKIPPED
from policywatch.store import Store, now_iso


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.run", description=__doc__)
    parser.add_argument("sources", nargs="*", help="source names (default: all)")
    parser.add_argument("--config", default="config.toml")
    parser.add_argument("--db", default=None)
    parser.add_argument("--recheck-all", action="store_true")
    parser.add_argument("--run", type=int, default=None,
                        help="join this run, which the caller started (sources recorded) and finishes")
    parser.add_argument("--events", action="store_true", help="print JSON event lines on stdout")
    parser.add_argument("--log-file", default=None)
    args = parser.parse_args(argv)
    try:
        config = config_module.load(args.config, args.db)
        sources = config.select(args.sources)
    except config_module.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    held = _locks(config.db.parent / "locks", [s.name for s in sources])
    for source in sources:
        if source.name not in held:
            print(f"skipping {source.name}: another process is crawling it", file=sys.stderr)
            if args.events:
                emit({"event": "skipped", "source": source.name})
    sources = tuple(s for s in sources if s.name in held)
    if not sources:
        print("error: every source asked for is being crawled by another process", file=sys.stderr)
        return ALL_SKIPPED

    with Store(config.db) as store:
        run_id = args.run
        if run_id is None:
            store.sync_sources(config.sources)
            run_id = store.start_run(s.name for s in sources)
        now = now_iso()
        refs = {s.name: store.document_refs(s.name, now, args.recheck_all) for s in sources}
        attachments = {s.name: store.attachment_refs(s.name) for s in sources}

    settings = Settings(build_settings(config.crawl))
    settings.setdict({
        "PW_DB": str(config.db), "PW_RUN_ID": run_id, "PW_EVENTS": args.events,
        "PW_RECHECK_DAYS": config.crawl.recheck_days,
        "PW_DUPLICATE_THRESHOLD": config.detect.duplicate_threshold,
    })
    if args.log_file:
        settings.set("LOG_FILE", args.log_file)
    process = AsyncCrawlerProcess(settings)
    loader = process.spider_loader  # a spider file named after a source replaces ConfigSpider for it
    custom = set(loader.list())
    for source in sources:
        spider_class = loader.load(source.name) if source.name in custom else ConfigSpider
        crawler: Crawler | type[ConfigSpider] = spider_class
        if source.fetcher == "browser":  # only this source's crawler gets the browser (crawler.browser)
            own = settings.copy()
            own.setdict(browser_settings(settings))
            crawler = Crawler(spider_class, own)
        process.crawl(crawler, source=source, refs=refs[source.name], attachments=attachments[source.name])
    process.start()

    if args.run is None:
        with Store(config.db) as store:
            store.finish_run(run_id)
    return 0


def _locks(folder: Path, names: list[str]) -> dict[str, IO[str]]:
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
