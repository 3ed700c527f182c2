"""``python -m bench.bare --config CONFIG``: a bare Scrapy crawl of the sources in a PolicyWatch config.

The baseline PolicyWatch is measured against: the same list pages (with pagination) and detail pages, the same
Scrapy settings as crawler.settings.build_settings gives that config (concurrency, delay, AutoThrottle, robots,
timeouts, retries), one crawler per source in one process as ``crawler.run`` does, and nothing else: no
extraction, no storage. Prints one JSON line: responses, bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import scrapy
from scrapy.crawler import AsyncCrawlerProcess
from scrapy.settings import Settings

from crawler.settings import build_settings
from policywatch import config as config_module
from policywatch.config import Source, select


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, source: Source, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = source.start_urls
        self.rule = source.list

    async def start(self):
        for url in self.start_urls:
            yield scrapy.Request(url, callback=self.parse_list, cb_kwargs={"page": 1}, dont_filter=True)

    def parse_list(self, response, page: int):
        for item in select(response.selector, self.rule.item):
            href = select(item, self.rule.link).get()
            if href:
                yield response.follow(href, callback=self.parse_detail)
        following = select(response.selector, self.rule.next_page).get() if self.rule.next_page else None
        if following and page < self.rule.max_pages:
            yield response.follow(following, callback=self.parse_list, cb_kwargs={"page": page + 1})

    def parse_detail(self, response):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    config = config_module.load(args.config)  # the very settings PolicyWatch's crawl gets
    settings = build_settings(config.crawl)
    settings.pop("ITEM_PIPELINES")
    settings.pop("SPIDER_MODULES")
    settings.pop("PW_MAX_ATTACHMENT_BYTES")
    # PolicyWatch's request guard (crawler.guard) is PolicyWatch's work, measured in its crawl, not here.
    settings.pop("DOWNLOADER_MIDDLEWARES")
    settings.pop("TWISTED_DNS_RESOLVER")
    process = AsyncCrawlerProcess(Settings(settings))
    crawlers = []
    for source in config.sources:
        crawler = process.create_crawler(BareSpider)
        crawlers.append(crawler)
        process.crawl(crawler, source=source)
    process.start()
    stats = [c.stats.get_stats() for c in crawlers]
    print(json.dumps({
        "responses": sum(s.get("downloader/response_count", 0) for s in stats),
        "status_200": sum(s.get("downloader/response_status_count/200", 0) for s in stats),
        "bytes": sum(s.get("downloader/response_bytes", 0) for s in stats),
        "errors": sum(s.get("downloader/exception_count", 0) for s in stats),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
