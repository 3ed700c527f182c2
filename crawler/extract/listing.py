"""Items of a list page, read with a source's list selectors: HTML (CSS/XPath) or JSON paths.

JSON lists are API responses, or a JS object a page assigns in a script (``var listData = {…}``) and
renders in the browser; both are read with ``json:`` paths (see ``policywatch.core.config.json_paths``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import chompjs
import parsel

from policywatch.core.config import JSON_PREFIX, json_paths, select
from policywatch.core.normalize import clean_text, clean_url
from policywatch.crawler.extract.dates import parse_date, to_iso

if TYPE_CHECKING:
    from collections.abc import Iterator

    from policywatch.core.config import ListRule


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
    not_urls: tuple[str, ...] = ()  # items' links that are no URL ("javascript:void(0)"), never requested


# Hanweb JCMS ships a column's first page as <record><![CDATA[<li>…</li>]]></record> inside
# <script type="text/xml"> (and dataproxy.jsp answers with the same records): unwrapped into
# <div class="pw-record"> elements, they are plain HTML to the selectors.
_XML_SCRIPT = re.compile(r"<script[^>]*text/xml[^>]*>(.*?)</script>", re.S | re.I)
_RECORD = re.compile(r"<record>\s*<!\[CDATA\[(.*?)\]\]>\s*</record>", re.S)
_SHANGHAI = ZoneInfo("Asia/Shanghai")
# A link value that is script, not a URL: "javascript:…", or a bare call "window.open('…', '_blank')".
_SCRIPT = re.compile(r"^\s*(?:javascript:|[\w.$]+\s*\(.*\)\s*;?\s*$)", re.I | re.S)
_QUOTED = re.compile(r"""(['"])((?:(?!\1)[^\\]|\\.){1,2000})\1""")
# A quoted string that is a page's address: absolute, root- or dot-relative, a path, a page file, a query.
_URLISH = re.compile(r"^(?:https?://|//|\.{0,2}/|\?|[\w\-.%]+/|[\w\-%]+\.(?:s?html?|jsp|php|aspx?|do|action)\b)",
                     re.I)
_DATA_LINKS = ("data-href", "data-url", "data-link")


def extract_list(page: str, url: str, rule: ListRule) -> ListPage:
    """Every item with an http(s) link, in page order, and the next page's URL if any."""
    if rule.item.startswith(JSON_PREFIX):
        return _json_list(page, url, rule)
    if "<record>" in page:
        page = _XML_SCRIPT.sub(lambda m: m.group(1), page)  # out of the script, where a parser can see it
        page = _RECORD.sub(lambda m: f'<div class="pw-record">{m.group(1)}</div>', page)
    # type="html": parsel would read a JSON body as JSON, on which CSS/XPath raise instead of matching nothing.
    sel = parsel.Selector(text=page or "<html></html>", base_url=url, type="html")
    matched = select(sel, rule.item)
    items = []
    not_urls = []
    for node in matched:
        link, not_url = item_link(node, _first(node, rule.link), url)
        if link:
            items.append(ListItem(link, _joined(node, rule.title), _joined(node, rule.date)))
        elif not_url:
            not_urls.append(not_url)
    next_href = _first(sel, rule.next_page) if rule.next_page else None
    next_url = clean_url(urljoin(url, next_href)) if next_href else None
    if next_url == url or (next_url and urlsplit(next_url).scheme not in ("http", "https")):
        next_url = None
    return ListPage(items, len(matched), next_url, tuple(not_urls))


def item_link(node: parsel.Selector, value: str | None, base: str) -> tuple[str | None, str | None]:
    """An item's absolute URL, and the link that is no URL when there is none.

    ``value`` is what the link selector found. When it is missing, a bare "#", or script (``javascript:…``,
    ``window.open(…)``), the URL is read from the script's quoted arguments, then from the item's ``onclick``
    and ``data-href``/``data-url`` attributes: the first quoted string that looks like an address, relative to
    the page. A script with no such string names no page: it is returned as not a URL and never requested.
    """
    if value and not value.startswith("#") and not _SCRIPT.match(value):
        return _absolute(base, value), None
    scripts = [value] if value and _SCRIPT.match(value) else []
    scripts += node.xpath("descendant-or-self::*/@onclick").getall()
    for script in scripts:
        for _, quoted in _QUOTED.findall(script[:4000]):  # an address sits in the first few arguments
            if _URLISH.match(quoted.strip()) and (link := _absolute(base, quoted.strip())):
                return link, None
    for attribute in _DATA_LINKS:
        for data in node.xpath(f"descendant-or-self::*/@{attribute}").getall():
            data = data.strip()
            if data and not _SCRIPT.match(data) and (link := _absolute(base, data)):
                return link, None
    not_url = next((s.strip() for s in scripts if s.strip()), None)
    return None, " ".join(clean_text(not_url).split())[:200] if not_url else None


def _absolute(base: str, href: str | None) -> str | None:
    """``href`` as an absolute http(s) URL without its fragment; None for anything else (a host no URL can have,
    "http://[::1", included)."""
    try:
        link = clean_url(urljoin(base, href).split("#")[0]) if href else None
        return link if link and urlsplit(link).scheme in ("http", "https") else None
    except ValueError:
        return None


def _json_list(page: str, url: str, rule: ListRule) -> ListPage:
    """Items of a JSON list: the whole page is JSON, or the path's first key names a JS variable in it."""
    return json_items(_json_document(page, json_paths(rule.item)[0][0]), rule, url)


def json_items(document: Any, rule: ListRule, url: str) -> ListPage:
    """Items of an already-decoded JSON value, read with the rule's ``json:`` paths (API spiders use it)."""
    paths = json_paths(rule.item)
    found = next((v for v in (walk(document, p) for p in paths) if isinstance(v, list)), [])
    items, not_urls = [], []
    for entry in found:
        raw = _json_text(entry, rule.link)
        link = _absolute(url, raw)
        if link:
            title = _json_text(entry, rule.title)
            items.append(ListItem(link, _html_text(title) if title else None, _json_date(entry, rule.date)))
        elif raw:
            not_urls.append(" ".join(clean_text(raw).split())[:200])
    return ListPage(items, len(found), None, tuple(not_urls))


def _json_document(page: str, variable: str) -> Any:
    text = page.strip()
    if text.startswith(("{", "[")):
        try:
            return json.loads(text, strict=False)  # not strict: a raw tab or newline inside a title is no error
        except ValueError:
            pass
    assignment = re.search(rf"\b(?:var|let|const)\s+{re.escape(variable)}\s*=\s*", page)
    if assignment is None:
        return None
    try:  # a JS object literal: unquoted keys, single quotes, trailing commas
        return {variable: chompjs.parse_js_object(page[assignment.end():])}
    except ValueError:
        return None


def walk(value: Any, path: tuple[str, ...]) -> Any:
    """``value[k1][k2]…`` for a path of keys (list indexes as digits, ``$`` the value itself); JSON held in a
    string is decoded on the way. None where the path leads nowhere."""
    for key in path:
        if key == "$":  # the document itself: json:$ is a top-level array
            continue
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:  # some CMSs nest JSON in strings: "urls": "{\"pc\": \"/col/…\"}"
                value = json.loads(value)
            except ValueError:
                return None
        if isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        elif isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    return value


def _json_values(entry: Any, selector: str | None) -> Iterator[Any]:
    """The value of each alternative that has one, in order."""
    for path in json_paths(selector) if selector else ():
        value = walk(entry, path)
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, "") and not isinstance(value, bool):
            yield value


def _json_text(entry: Any, selector: str | None) -> str | None:
    """The first alternative with a value, as text."""
    return next((str(value) for value in _json_values(entry, selector)), None)


def _json_date(entry: Any, selector: str | None) -> str | None:
    """The first alternative that holds a date. APIs write dates as text ("2026-07-24 16:59", "2026.07.24"),
    as 20260601, or as epoch seconds or milliseconds (numbers or digit strings), where 0 means none."""
    for value in _json_values(entry, selector):
        if isinstance(value, str) and value.isdigit():
            if len(value) == 8:
                return to_iso(value[:4], value[4:6], value[6:])
            value = int(value)
        if isinstance(value, int | float):
            if value > 0:
                seconds = value / 1000 if value > 1e11 else value
                return datetime.fromtimestamp(seconds, _SHANGHAI).strftime("%Y-%m-%d")
            continue
        return str(value)
    return None


def _html_text(fragment: str) -> str | None:
    """Titles in JSON often carry markup (<a …>title</a>, <p>title</p>); JSON escapes (\\u001b) and character
    references bring control characters back after decoding removed the raw ones."""
    if "<" in fragment:
        fragment = "".join(parsel.Selector(text=fragment, type="html").xpath("//text()").getall())
    return " ".join(clean_text(fragment).split()) or None


def _first(node: parsel.Selector, selector: str) -> str | None:
    value = select(node, selector).get()
    return value.strip() if value and value.strip() else None


def _joined(node: parsel.Selector, selector: str | None) -> str | None:
    if not selector:
        return None
    # Text nodes join without a gap: a title split by highlighting (<em>细胞</em>治疗) stays one word.
    return " ".join(clean_text("".join(select(node, selector).getall())).split()) or None
