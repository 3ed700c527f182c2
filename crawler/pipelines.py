"""StorePipeline: every item a spider yields goes into state.db, one transaction each."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from policywatch.model import Fetch, Snapshot
from policywatch.store import Store

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class StorePipeline:
    """Writes snapshots and fetch records; prints one JSON event line per item when asked.

    The events (``PW_EVENTS``) are how ``policywatch crawl`` shows progress
    from the crawl subprocess without sharing anything but a pipe.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.run_id = settings.getint("PW_RUN_ID")
        self.events = settings.getbool("PW_EVENTS")
        self.store = Store(settings.get("PW_DB"))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def close_spider(self) -> None:
        self.store.close()

    def process_item(self, item: Any) -> Any:
        spider = self.crawler.spider
        if isinstance(item, Snapshot):
            result = self.store.save_snapshot(self.run_id, item, self._next_check(spider))
            fetch = item.fetch
            event = {"new_document": result.new_document, "new_version": result.new_version}
        elif isinstance(item, Fetch):
            # A 304 answered the re-check; anything else leaves the document due.
            not_modified = item.status == 304
            self.store.record_fetch(self.run_id, item, self._next_check(spider) if not_modified else None)
            fetch, event = item, {}
        else:
            return item
        if self.events:
            event |= {"event": "fetch", "source": fetch.source, "kind": fetch.kind,
                      "url": fetch.url, "status": fetch.status, "error": fetch.error}
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        return item

    def _next_check(self, spider: Any) -> str:
        days = spider.source.recheck_days
        if days is None:
            days = self.crawler.settings.getfloat("PW_RECHECK_DAYS")
        return (datetime.now(UTC) + timedelta(days=days)).isoformat(timespec="seconds")
