"""`policywatch sources check`: what one source extracts right now, for maintainers adding or repairing it.

It reads the source's list page (fetched now, or a saved copy) and one detail page (the first item's, or one
given) with exactly the extraction a crawl uses, and says what looks wrong: an anti-bot wall, no items, items
without dates, fewer items than ``expect_items``, a detail page without date or text. It stores nothing.

Its requests follow the crawl's rules (policywatch.crawler.guard): no internal address unless ``[crawl] allow_hosts``
lists it, checked for each URL and each redirect hop, and no redirect off the source's hosts. A list page can link
anywhere, and the check prints what it fetches: a refused URL is a CheckError naming the reason, never a request.
"""

from __future__ import annotations

import asyncio
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from twisted.internet.error import DNSLookupError
from w3lib.url import safe_url_string

from policywatch.core.config import Config, Source
from policywatch.crawler.extract.detail import DetailFields, extract_detail
from policywatch.crawler.extract.encoding import decode_html
from policywatch.crawler.extract.listing import ListItem, extract_list
from policywatch.crawler.extract.walls import detect_wall
from policywatch.crawler.guard import AddressGuard, Allowlist, RequestGuard, redirect_problem, source_hosts, uses_proxy
from policywatch.crawler.spiders import custom_spiders
from policywatch.crawler.spiders.base import MIN_TEXT_CHARS


class CheckError(Exception):
    """A page that could not be read at all (no such file, no connection); ``str()`` says which."""


@dataclass
class Page:
    url: str
    text: str
    status: int | None  # None: read from a file
    wall: str | None


@dataclass
class Check:
    source: Source
    list_page: Page
    items: list[ListItem]
    matched: int  # elements the item selector matched
    next_url: str | None
    detail_page: Page | None = None
    detail: DetailFields | None = None
    warnings: list[str] = field(default_factory=list)
    list_skipped: bool = False  # only a detail file was given: the list was not read

    @property
    def broken(self) -> bool:
        """A wall, or no items at all: the source would not work as configured (a skipped list says nothing)."""
        if self.list_skipped:
            return self.detail_page is not None and self.detail_page.wall is not None
        return self.list_page.wall is not None or not self.items


def check_source(config: Config, source: Source, list_file: Path | None = None, detail: str | None = None) -> Check:
    """Read the list page (``list_file`` or fetched) and a detail page (``detail``: a file or URL; by default
    the first item's, fetched, unless the list came from a file). Given a detail file and no list file, the list
    is skipped: nothing is fetched when only files are given."""
    if source.name in custom_spiders():
        raise CheckError(f"{source.name} is read by its own spider (crawler/spiders/), not by its list rules: "
                         f"try it with `policywatch crawl {source.name}`")
    list_url = source.start_urls[0]
    if list_file is None and detail is not None and not _is_url(detail):
        check = Check(source, Page(list_url, "", None, None), [], 0, None, list_skipped=True)
        check.warnings.append("the list page was not read (no --file given with a detail file); "
                              "its items are not checked")
        check.detail_page = _read(Path(detail), list_url)
        return _check_detail(check, None)
    guard = _Guard(config, source)
    page = _read(list_file, list_url) if list_file else _fetch(list_url, config, guard)
    check = Check(source, page, [], 0, None)
    if page.wall:
        warning = f"the list page is an {page.wall}"
        if source.fetcher == "browser" and list_file is None:
            warning += " (a crawl fetches this source in a browser, which this check does not)"
        check.warnings.append(warning)
        return check
    listing = extract_list(page.text, list_url, source.list)
    check.items, check.matched, check.next_url = listing.items, listing.found, listing.next_url
    if not listing.items:
        rule = source.list
        check.warnings.append(
            f"0 items: the item selector {rule.item!r} matches nothing on the page" if not listing.found else
            f"0 items: the item selector {rule.item!r} matched {listing.found} elements, "
            f"none with a link ({rule.link!r})")
    if listing.not_urls:
        check.warnings.append(f"{len(listing.not_urls)} of {listing.found} items have a link that is not a URL: "
                              f"{listing.not_urls[0][:80]}")
    undated = sum(1 for item in listing.items if not item.published)
    if listing.items and undated:
        check.warnings.append(f"{undated} of {len(listing.items)} items have no date on the list page")
    if source.expect_items and 0 < len(listing.items) < source.expect_items:
        check.warnings.append(f"{len(listing.items)} items, fewer than expect_items = {source.expect_items}")
    target = detail or (listing.items[0].url if listing.items and list_file is None else None)
    if target is None:
        return check
    first = listing.items[0] if listing.items and target == listing.items[0].url else None
    check.detail_page = _fetch(target, config, guard) if _is_url(target) else _read(Path(target), list_url)
    return _check_detail(check, first)


def _is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def _check_detail(check: Check, first: ListItem | None) -> Check:
    """Extract the detail page read into ``check`` (with the list item that links it, if known) and note what
    looks wrong, the extraction's own warnings included."""
    source = check.source
    assert check.detail_page is not None
    if check.detail_page.wall:
        check.warnings.append(f"the detail page is an {check.detail_page.wall}")
        return check
    fields = extract_detail(check.detail_page.text, check.detail_page.url, source.detail,
                            first.title if first else None, first.date if first else None)
    check.detail = fields
    check.warnings.extend(fields.warnings)
    if not fields.published:
        check.warnings.append("the detail page gives no publish date")
    if len(fields.text) < MIN_TEXT_CHARS:
        check.warnings.append("no policy text extracted from the detail page (see [sources.detail] body)")
    if not fields.authority:
        check.warnings.append(f"the detail page names no issuing authority; {source.authority!r} will be used")
    return check


def _read(path: Path, url: str) -> Page:
    try:
        body = path.read_bytes()
    except OSError as e:
        raise CheckError(f"cannot read {path}: {e.strerror or e}") from None
    text = decode_html(body).text
    return Page(url, text, None, detect_wall(None, text))


class _Guard:
    """policywatch.crawler.guard's rules for this check's requests: the address rule with ``[crawl] allow_hosts`` for
    every URL and redirect hop, and the source's hosts for redirects."""

    def __init__(self, config: Config, source: Source) -> None:
        self.addresses = AddressGuard(Allowlist.parse(config.crawl.allow_hosts), config.crawl.timeout)
        self.proxies = RequestGuard.env_proxies()
        self.hosts = source_hosts(source)

    def check(self, url: str, first: str | None = None) -> None:
        """Raise CheckError if ``url`` may not be fetched (``first``: where its redirect chain began)."""
        reason = redirect_problem(url, first, self.hosts) if first is not None else None
        if reason is None:
            try:
                reason = asyncio.run(self.addresses.refusal(url, uses_proxy(url, self.proxies)))
            except DNSLookupError as e:
                raise CheckError(f"cannot fetch {url[:200]}: cannot resolve {e}") from None
        if reason:
            raise CheckError(f"not fetched: {url[:200]}: {reason}")


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirects, each hop checked by the guard before it is requested."""

    def __init__(self, guard: _Guard, first: str) -> None:
        self.guard, self.first = guard, first

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        try:
            self.guard.check(newurl, self.first)
        except CheckError:
            fp.close()
            raise
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, config: Config, guard: _Guard) -> Page:
    """Fetch a page as a crawl would: the URL percent-encoded as Scrapy sends it (portals link files named
    in Chinese, 2023/关于….html, and http.client only sends ASCII), at most ``max_page_bytes`` read, refused
    where the crawl's guard would refuse it."""
    url = safe_url_string(url)
    guard.check(url)
    limit = config.crawl.max_page_bytes
    request = urllib.request.Request(url, headers={"User-Agent": config.crawl.user_agent})
    opener = urllib.request.build_opener(_GuardedRedirects(guard, url))
    try:
        with opener.open(request, timeout=config.crawl.timeout) as response:
            status, body, content_type = response.status, response.read(limit + 1), response.headers.get("Content-Type")
            final = response.url
    except urllib.error.HTTPError as e:
        status, body, content_type, final = e.code, e.read(limit + 1), e.headers.get("Content-Type"), url
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        raise CheckError(f"cannot fetch {url}: {getattr(e, 'reason', None) or str(e) or type(e).__name__}") from None
    if len(body) > limit:
        raise CheckError(f"{url} is larger than max_page_bytes = {limit}")
    text = decode_html(body, content_type).text
    wall = detect_wall(status, text)
    if wall is None and status >= 400:
        raise CheckError(f"{url} answered HTTP {status}")
    return Page(final, text, status, wall)
