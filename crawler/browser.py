"""The browser fetcher: a source with ``fetcher = "browser"`` has its pages rendered in headless Chromium.

For portals whose lists are built by JavaScript, or that answer a plain client with a JS cookie challenge (Ruishu
and the like), scrapy-playwright drives the Chromium the system has (the Debian ``chromium`` package, or the
executable named by POLICYWATCH_CHROMIUM); no browser is ever downloaded. Only the crawler of a browser source gets
the Playwright download handler (policywatch.crawler.run), so a crawl of plain sources never starts a browser or imports
Playwright. BrowserMiddleware marks that crawler's list and detail requests for the browser; attachments (files)
are still fetched over plain HTTP, by the same handler.

What a browser request gives the spider: the page's DOM once it has loaded and the network has been quiet for a
moment (JS-built lists exist by then), with the status and headers of the document finally shown, not of a
challenge page that set a cookie and reloaded. A non-HTML answer (the JSON of a list API) is passed on as the bytes
the server sent, not as Chromium's rendering of it.

The request guard (policywatch.crawler.guard) holds for Chromium too. The page's own URL passes ``RequestGuard`` like
any request; every request Chromium then makes (scripts, XHR and fetch(), frames, navigations a script or a meta
refresh starts) is routed through ``ChromiumGuard``, which aborts it if its host is refused by the address rule.
An HTTP redirect is the exception: Chromium follows it itself, without routing the new request, so its hops are
checked once the page has loaded, and a page any of whose redirect chains reached a refused address (or whose own
chain left the source's hosts) is refused as a whole: recorded as a fetch error, nothing stored. What remains:
such a redirect hop has been requested by then (though nothing it answered is kept), and Chromium resolves
names itself, so its connections are not pinned to the addresses the guard vetted.
"""

from __future__ import annotations

import os
import shutil
from contextlib import suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest, NotConfigured

from policywatch.crawler.guard import SCHEMES, AddressGuard, Allowlist, RefusedRequest, RequestGuard

if TYPE_CHECKING:
    from playwright.async_api import Page
    from playwright.async_api import Request as PlaywrightRequest
    from playwright.async_api import Response as PlaywrightResponse
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import Settings

ENV = "POLICYWATCH_CHROMIUM"
NOT_FOUND = f"browser fetcher: Chromium not found (install the Debian chromium package or set {ENV})"
HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
NETWORK_IDLE_MS = 5000  # after load, how long to wait for the network to go quiet (fetch()-built lists)
_SKIPPED_RESOURCES = ("image", "media", "font")  # never needed to build a list or read a page
_HTML = ("text/html", "application/xhtml")


class BrowserUnavailable(IgnoreRequest):
    """A browser source's request that cannot be made: no Chromium to render it. The message is the reason."""


def find_chromium() -> tuple[str | None, str | None]:
    """(path of the Chromium to use, None) or (None, why there is none): POLICYWATCH_CHROMIUM if set, else the
    Debian ``chromium`` (or ``chromium-browser``) on PATH."""
    named = os.environ.get(ENV, "").strip()
    if named:
        path = shutil.which(named)
        return (path, None) if path else (None, f"browser fetcher: {ENV}={named} is not an executable")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    return (path, None) if path else (None, NOT_FOUND)


def browser_settings(settings: Settings) -> dict[str, Any]:
    """The settings a browser source's crawler adds to the crawl's ``settings``."""
    chromium, problem = find_chromium()
    # BrowserMiddleware is in every crawler's middlewares (policywatch.crawler.settings): a dict setting given here
    # would be replaced by the crawl process's own when Scrapy merges the two.
    middleware = {"PW_BROWSER": True}
    if chromium is None:
        return middleware | {"PW_BROWSER_PROBLEM": problem}
    return middleware | {
        "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER},
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {
            "executable_path": chromium,
            "headless": True,
            # Playwright already passes --no-sandbox (chromium_sandbox defaults to off), which running as root
            # in a container needs; a container's /dev/shm is often too small for Chromium.
            "args": ["--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking"],
            "timeout": 60_000,
        },
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": settings.getfloat("DOWNLOAD_TIMEOUT", 30) * 1000,
        "PLAYWRIGHT_ABORT_REQUEST": ChromiumGuard(settings),
        "PLAYWRIGHT_PROCESS_REQUEST_HEADERS": request_headers,
    }


class ChromiumGuard:
    """Which of Chromium's requests to abort: images, media and fonts (never needed), and any the address rule
    refuses. Through a proxy (which Chromium is then given) names are not resolved here, as in RequestGuard."""

    def __init__(self, settings: Settings) -> None:
        self.guard = AddressGuard(Allowlist.parse(settings.getlist("PW_ALLOW_HOSTS")),
                                  settings.getfloat("DNS_TIMEOUT", 60.0))
        self.proxied = {scheme for scheme in RequestGuard.env_proxies() if scheme in SCHEMES}

    async def __call__(self, request: PlaywrightRequest) -> bool:
        if request.resource_type in _SKIPPED_RESOURCES:
            return True
        if request.url.startswith(("data:", "blob:", "about:")):  # made by the page itself: no request leaves
            return False
        return await self.guard.refusal(request.url, urlsplit(request.url).scheme in self.proxied) is not None


async def request_headers(*, browser_type_name: str, playwright_request: PlaywrightRequest,
                          scrapy_request_data: dict[str, Any]) -> dict[str, str]:
    """Chromium's own headers, cookies included (scrapy-playwright's default drops them from page loads, so a
    challenge's cookie would never be sent back); Scrapy's (User-Agent, conditional headers) win on page loads,
    its User-Agent on everything."""
    headers = await playwright_request.all_headers()
    scrapy = {k.lower(): v for k, v in scrapy_request_data["headers"].to_unicode_dict().items()}
    if playwright_request.is_navigation_request():
        return headers | scrapy
    return headers | {k: v for k, v in scrapy.items() if k == "user-agent"}


class BrowserMiddleware:
    """Sends a browser source's list and detail requests through Chromium (attachments stay plain HTTP)."""

    def __init__(self, problem: str | None, guard: RequestGuard) -> None:
        self.problem = problem
        self.guard = guard  # for the redirects Chromium followed by itself
        self.cookies: list[dict[str, Any]] = []  # the browser's, as last seen: files are fetched with them

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BrowserMiddleware:
        if not crawler.settings.getbool("PW_BROWSER"):
            raise NotConfigured  # a plain source's crawler
        return cls(crawler.settings.get("PW_BROWSER_PROBLEM"), RequestGuard(crawler))

    def process_request(self, request: Request) -> None:
        kind = request.meta.get("kind")
        if kind == "attachment" and "Cookie" not in request.headers and (
                cookie := _cookie_header(self.cookies, request.url)):  # what a JS challenge gave the browser, say
            request.headers["Cookie"] = cookie
        if kind not in ("list", "detail"):  # files, robots.txt: plain HTTP
            return
        if self.problem:
            raise BrowserUnavailable(self.problem)
        # Chromium aborts a page load answered 304 (it has no copy of its own to show): re-checks fetch in full.
        for name in ("If-None-Match", "If-Modified-Since"):
            request.headers.pop(name, None)
        from scrapy_playwright.page import PageMethod

        document: dict[str, Any] = {}  # the main frame's latest document response, filled in by the page
        request.meta.update({
            "playwright": True,
            "playwright_page_goto_kwargs": {"wait_until": "load"},
            "playwright_page_event_handlers": {"response": lambda response: _note_document(response, document)},
            "playwright_page_methods": [PageMethod(_settle, document)],
            "pw_document": document,
        })

    async def process_response(self, request: Request, response: Response) -> Response:
        """The status and headers of the document shown; the raw bytes of a non-HTML one. A page whose
        redirects went where the guard refuses is refused (the chains were followed inside Chromium)."""
        document = request.meta.get("pw_document")
        if "playwright" not in response.flags or not document:
            return response
        for main, chain in document.get("redirects", ()):
            reason = await self.redirect_refusal(chain, main)
            if reason:
                raise RefusedRequest(reason)
        if "status" not in document:
            return response
        self.cookies = document["cookies"]
        headers = {k: v for k, v in document["headers"].items() if k.lower() not in ("content-encoding",
                                                                                         "content-length")}
        changes: dict[str, Any] = {"status": document["status"], "headers": headers}
        if "body" in document:
            changes["body"] = document["body"]
        else:
            headers["content-type"] = response.headers.get("Content-Type", b"text/html").decode("latin-1")
        return response.replace(**changes)

    async def redirect_refusal(self, chain: list[str], main: bool) -> str | None:
        """Why a redirect chain Chromium followed is refused: a hop's address, or (for the page itself) a hop off
        the source's hosts."""
        for i, url in enumerate(chain[1:], 1):
            reason = (self.guard.redirect_refusal(url, chain[:i]) if main else None) or (
                await self.guard.addresses.refusal(url, urlsplit(url).scheme in self.guard.proxies))
            if reason:
                return reason if main else f"{reason}; the page's request for {chain[0][:200]} was redirected there"
        return None


def _note_document(response: PlaywrightResponse, document: dict[str, Any]) -> None:
    """Note the main frame's document response, and every redirect chain Chromium followed (checked later)."""
    main = response.request.is_navigation_request() and response.frame.parent_frame is None
    if main:
        document["response"] = response
    if response.request.redirected_from is not None:
        chain, request = [], response.request
        while request is not None:
            chain.append(request.url)
            request = request.redirected_from
        document.setdefault("redirects", []).append((main, chain[::-1]))


async def _settle(page: Page, document: dict[str, Any]) -> None:
    """After load: wait a little for the network to go quiet, then note the document's status, headers and (for
    anything but HTML) its bytes."""
    from playwright.async_api import Error, TimeoutError

    with suppress(TimeoutError):
        await page.wait_for_load_state("networkidle", timeout=NETWORK_IDLE_MS)
    response = document.get("response")
    if response is None:
        return
    headers = await response.all_headers()
    if not headers.get("content-type", "text/html").lower().startswith(_HTML):
        with suppress(Error):  # a body Chromium did not keep: the rendered page will have to do
            document["body"] = await response.body()
    document["status"], document["headers"] = response.status, headers
    document["cookies"] = await page.context.cookies()


def _cookie_header(cookies: list[dict[str, Any]], url: str) -> str:
    """A Cookie header of the browser's cookies that belong to ``url`` (domain and path match)."""
    parts = urlsplit(url)
    host, path = parts.hostname or "", parts.path or "/"

    def matches(cookie: dict[str, Any]) -> bool:
        domain = cookie["domain"].lstrip(".")
        return (host == domain or host.endswith("." + domain)) and path.startswith(cookie["path"]) and (
            not cookie["secure"] or parts.scheme == "https")

    return "; ".join(f"{c['name']}={c['value']}" for c in cookies if matches(c))
