"""Items of a list page, read with a source's list selectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import parsel

from crawler.extract.dates import parse_date
from policywatch.config import select

if TYPE_CHECKING:
    from policywatch.config import ListRule


@dataclass(frozen=True)
class ListItem:
    url: str
    title: str | None
    date: str | None  # as written on the page; see ``published``

    @property
    def published(self) -> str | None:
        return parse_date(self.date)


@dataclass(frozen=True)
class ListPage:
    items: list[ListItem]
    found: int  # elements the item selector matched, including ones without a usable link
    next_url: str | None


def extract_list(page: str, url: str, rule: ListRule) -> ListPage:
    """Every item with an http(s) link, in page order, and the next page's URL if any."""
    sel = parsel.Selector(text=page or "<html></html>", base_url=url)
    matched = select(sel, rule.item)
    items = []
    for node in matched:
        href = _first(node, rule.link)
        link = urljoin(url, href).split("#")[0] if href else None
        if link and urlsplit(link).scheme in ("http", "https"):
            items.append(ListItem(link, _joined(node, rule.title), _joined(node, rule.date)))
    next_href = _first(sel, rule.next_page) if rule.next_page else None
    next_url = urljoin(url, next_href) if next_href else None
    if next_url == url or (next_url and urlsplit(next_url).scheme not in ("http", "https")):
        next_url = None
    return ListPage(items, len(matched), next_url)


def _first(node: parsel.Selector, selector: str) -> str | None:
    value = select(node, selector).get()
    return value.strip() if value and value.strip() else None


def _joined(node: parsel.Selector, selector: str | None) -> str | None:
    if not selector:
        return None
    text = " ".join(t.strip() for t in select(node, selector).getall() if t.strip())
    return " ".join(text.split()) or None
