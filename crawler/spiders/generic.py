"""ConfigSpider: list → pagination → detail, driven entirely by one [[sources]] entry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import scrapy

from policywatch.core.model import Fetch
from policywatch.crawler.extract.listing import extract_list
from policywatch.crawler.spiders.base import PolicySpider

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from scrapy.http import Response


class ConfigSpider(PolicySpider):
    """The spider for every source that has no spider file of its own."""

    async def start(self) -> AsyncIterator[Any]:
        for url in self.source.start_urls:
            yield self.list_request(url, page=1)
        for request in self.due_requests():
            yield request

    def list_request(self, url: str, page: int) -> scrapy.Request:
        return scrapy.Request(
            url, callback=self.parse_list, errback=self.on_error, cb_kwargs={"page": page},
            meta={"kind": "list"}, dont_filter=page == 1,
        )

    def parse_list(self, response: Response, page: int) -> Iterator[Fetch | scrapy.Request]:
        text, problem = self.decode(response)
        if problem:
            yield self.fetch_of(response, "list", error=problem)
            return
        listing = self.read_page(response, "list", lambda: extract_list(text, response.url, self.source.list))
        if isinstance(listing, Fetch):
            yield listing
            return
        yield from self.listed(response, listing)
        if listing.next_url and page < self.source.list.max_pages:
            yield self.list_request(listing.next_url, page=page + 1)
