"""The browser fetcher: a source with ``fetcher = "browser"`` has its pages rendered in headless Chromium.

For portals whose lists are built by JavaScript, or that answer a plain client with a JS cookie challenge (Ruishu
and the like), scrapy-playwright drives the Chromium the system has (the Debian ``chromium`` package, or the
executable named by POLICYWATCH_CHROMIUM); no browser is ever downloaded. Only the crawler of a browser source gets
the Playwright download handler (crawler.run), so a crawl of plain sources never starts a browser or imports
Playwright. BrowserMiddleware marks that crawler's list and detail requests for the browser; attachments (files)
are still fetched over plain HTTP, by the same handler.

What a browser request gives the spider: the page's DOM once it has loaded and the network has been quiet for a
moment (JS-built lists exist by then), with the status and headers of the document finally shown, not of a
challenge page that set a cookie and reloaded. A non-HTML answer (the JSON of a list API) is passed on as the bytes
the server sent, not as Chromium's rendering of it.
"""

from __future__ import annotations

import os
import shutil
from contextlib import suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest

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
    middleware = {"DOWNLOADER_MIDDLEWARES": {f"{__name__}.BrowserMiddleware": 950}}
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
        "PLAYWRIGHT_ABORT_REQUEST": skip_resource,
        "PLAYWRIGHT_PROCESS_REQUEST_HEADERS": request_headers,
    }


def skip_resource(request: PlaywrightRequest) -> bool:
    return request.resource_type in _SKIPPED_RESOURCES


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

    def __init__(self, problem: str | None) -> None:
        self.problem = problem
        self.cookies: list[dict[str, Any]] = []  # the browser's, as last seen: files are fetched with them

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BrowserMiddleware:
        return cls(crawler.settings.get("PW_BROWSER_PROBLEM"))

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

    def process_response(self, request: Request, response: Response) -> Response:
        """The status and headers of the document shown; the raw bytes of a non-HTML one."""
        document = request.meta.get("pw_document")
        if "playwright" not in response.flags or not document or "status" not in document:
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


def _note_document(response: PlaywrightResponse, document: dict[str, Any]) -> None:
    if response.request.is_navigation_request() and response.frame.parent_frame is None:
        document["response"] = response


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
