"""``python -m bench.bare --config CONFIG [--items FILE]``: a bare Scrapy crawl of the sources in a PolicyWatch config.

The baseline PolicyWatch is measured against: the same list pages (with pagination) and detail pages, the same
Scrapy settings as policywatch.crawler.settings.build_settings gives that config (concurrency, delay, AutoThrottle,
robots, timeouts, retries), one crawler per source in one process as ``policywatch.crawler.run`` does.

With ``--items FILE`` it is the spider a Scrapy user would write to keep what the portals publish, the anchor
issue 18 names ("bare Scrapy extracting title, date, text"): each detail page yields an item with its URL, its
title (the config's title selector), its date (the first date in the page's text) and its body text (the
config's body selector, one line per text node), written by Scrapy's feed export as JSON Lines. Without it, the
spider fetches and does nothing else: no extraction, no storage. Prints one JSON line: responses, bytes, items.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import scrapy
from scrapy.crawler import AsyncCrawlerProcess
from scrapy.settings import Settings

from policywatch.core import config as config_module
from policywatch.core.config import Source, select
from policywatch.crawler.settings import build_settings

DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, source: Source, extract: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = source.start_urls
        self.rule = source.list
        self.detail = source.detail
        self.extract = extract

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
        if not self.extract:
            return None
        title = select(response.selector, self.detail.title).get() if self.detail.title else None
        body = response.css(self.detail.body) if self.detail.body else response.css("body")
        lines = [line.strip() for line in body.xpath(".//text()").getall()]
        text = "\n".join(line for line in lines if line)
        date = DATE.search(" ".join(response.xpath("//body//text()").getall()))
        return {
            "url": response.url,
            "title": (title or response.css("title::text").get() or "").strip(),
            "date": "-".join((date[1], date[2].zfill(2), date[3].zfill(2))) if date else None,
            "text": text,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--items", type=Path, default=None,
                        help="extract title, date and text from each detail page into this JSON Lines file")
    args = parser.parse_args(argv)
    config = config_module.load(args.config)  # the very settings PolicyWatch's crawl gets
    settings = build_settings(config.crawl)
    settings.pop("ITEM_PIPELINES")
    settings.pop("SPIDER_MODULES")
    settings.pop("PW_MAX_ATTACHMENT_BYTES")
    # PolicyWatch's request guard (policywatch.crawler.guard) is PolicyWatch's work, measured in its crawl, not here.
    settings.pop("DOWNLOADER_MIDDLEWARES")
    settings.pop("TWISTED_DNS_RESOLVER")
    if args.items:
        args.items.unlink(missing_ok=True)
        settings["FEEDS"] = {str(args.items): {"format": "jsonlines", "encoding": "utf-8"}}
    process = AsyncCrawlerProcess(Settings(settings))
    crawlers = []
    for source in config.sources:
        crawler = process.create_crawler(BareSpider)
        crawlers.append(crawler)
        process.crawl(crawler, source=source, extract=args.items is not None)
    process.start()
    stats = [c.stats.get_stats() for c in crawlers]
    print(json.dumps({
        "responses": sum(s.get("downloader/response_count", 0) for s in stats),
        "status_200": sum(s.get("downloader/response_status_count/200", 0) for s in stats),
        "bytes": sum(s.get("downloader/response_bytes", 0) for s in stats),
        "errors": sum(s.get("downloader/exception_count", 0) for s in stats),
        "items": sum(s.get("item_scraped_count", 0) for s in stats),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
