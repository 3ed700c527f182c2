"""ApiListSpider: sources whose list is a JSON API that needs built requests (a POST form, page parameters).

A JSON list a plain GET returns is config alone (``item = "json:…"``). An API that wants a form, or a page
number in its query, needs a spider: its subclass says how to ask for page N (``call``) and, as ``json:``
paths like a config's, where the items are and what their link, title and date are. A source's own
``[sources.list]`` JSON paths override those defaults; ``max_pages`` bounds the paging.

Everything else is shared: the first page goes out with the due re-checks of stored documents; each answer
becomes one list fetch row (``items`` = entries the API returned) and detail requests that carry the list's
title and date; pages follow while they hold entries, up to ``max_pages`` or the API's own page count. A wall,
an answer that is not JSON, or one the API marks as failed is a list fetch with a one-line error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import scrapy

from policywatch.core.config import JSON_PREFIX, ListRule
from policywatch.core.model import Fetch
from policywatch.crawler.extract.listing import json_items, walk
from policywatch.crawler.spiders.base import PolicySpider

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from scrapy.http import Response

    from policywatch.crawler.extract.listing import ListPage

_HEADERS = {"Accept": "application/json, text/javascript, */*; q=0.01", "X-Requested-With": "XMLHttpRequest"}


@dataclass(frozen=True)
class Call:
    """One API request: GET ``url`` with ``params`` as its query, or POST them as a form."""

    url: str
    params: dict[str, str]
    post: bool = False


class ApiListSpider(PolicySpider):
    """Base class of the spiders for JSON list APIs; subclasses set ``name``, the paths and ``call``."""

    item: ClassVar[str]  # json: path(s) to the list of entries
    link: ClassVar[str]  # json: path(s), inside an entry, to its detail page's URL
    title: ClassVar[str | None] = None
    date: ClassVar[str | None] = None
    page_size: ClassVar[int] = 20

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        configured = self.source.list
        own = configured.item.startswith(JSON_PREFIX)  # config insists on an item; an HTML one is no path here
        self.rule = ListRule(
            item=configured.item if own else self.item,
            link=(configured.link if own else "") or self.link,
            title=(configured.title if own else None) or self.title,
            date=(configured.date if own else None) or self.date,
            max_pages=configured.max_pages,
        )

    # -- what a subclass says ---------------------------------------------

    def call(self, page: int) -> Call:
        """The request for list page ``page`` (1-based)."""
        raise NotImplementedError

    def prepare(self, data: Any) -> Any:
        """Reshape a decoded answer before its items are read (derive a link, flatten groups…)."""
        return data

    def last_page(self, data: Any) -> int | None:
        """The number of pages, when the answer says."""
        return None

    def api_error(self, data: Any) -> str | None:
        """A one-line reason when the answer says the call failed."""
        if isinstance(data, dict) and data.get("success") is False:
            return f"API error: {data.get('message') or data.get('msg') or 'success is false'}"[:300]
        return None

    def read_answer(self, text: str, url: str) -> tuple[str | None, ListPage | None, int | None]:
        """(Why the answer is unusable, or None; its items; its number of pages) of one list call's answer."""
        try:
            data = json.loads(text, strict=False)  # a raw tab or newline inside a title is no reason to fail
        except ValueError:
            head = " ".join(text.split())[:60]
            return (f"not JSON: {head}" if head else "not JSON: empty answer"), None, None
        error = self.api_error(data)
        if error:
            return error, None, None
        data = self.prepare(data)
        return None, json_items(data, self.rule, url), self.last_page(data)

    # -- shared -----------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The portal page the source names; endpoints are derived from it, so a test can point it anywhere."""
        return self.source.start_urls[0]

    def query(self) -> dict[str, str]:
        """The base URL's query parameters, blank ones included."""
        return dict(parse_qsl(urlsplit(self.base_url).query, keep_blank_values=True))

    async def start(self) -> AsyncIterator[Any]:
        yield self.list_request(1)
        for request in self.due_requests():
            yield request

    def list_request(self, page: int) -> scrapy.Request:
        call = self.call(page)
        common: dict[str, Any] = {
            "headers": _HEADERS | {"Referer": self.base_url}, "callback": self.parse_list,
            "errback": self.on_error, "cb_kwargs": {"page": page}, "meta": {"kind": "list"}, "dont_filter": True,
        }
        if call.post:
            return scrapy.FormRequest(call.url, formdata=call.params, **common)
        separator = "&" if urlsplit(call.url).query else "?"
        return scrapy.Request(call.url + separator + urlencode(call.params), **common)

    def parse_list(self, response: Response, page: int) -> Iterator[Fetch | scrapy.Request]:
        text, problem = self.decode(response)
        if problem:
            yield self.fetch_of(response, "list", error=problem)
            return
        read = self.read_page(response, "list", lambda: self.read_answer(text, response.url))
        if isinstance(read, Fetch):
            yield read
            return
        error, listing, last = read
        if error:
            yield self.fetch_of(response, "list", error=error)
            return
        yield from self.listed(response, listing)
        if listing.found and page < self.rule.max_pages and (last is None or page < last):
            yield self.list_request(page + 1)


def at(data: Any, *keys: str) -> Any:
    """``data[k1][k2]…``, or None where the path leads nowhere."""
    return walk(data, keys)


def pages(total: Any, size: int) -> int | None:
    """Pages of ``size`` that ``total`` entries fill; None when ``total`` is not a count."""
    try:
        count = int(total)
    except (TypeError, ValueError):
        return None
    return max(1, -(-count // size))
