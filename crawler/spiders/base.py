"""PolicySpider: what every PolicyWatch spider shares (source, stored documents, fetch records)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import DownloadCancelledError, DownloadConnectionRefusedError, ResponseDataLossError
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError
from twisted.web._newclient import ResponseNeverReceived

from policywatch.core.model import ITEMS_CAPPED, AttachmentFile, Fetch, Snapshot
from policywatch.core.normalize import clean_text
from policywatch.core.store import now_iso
from policywatch.crawler.browser import BrowserUnavailable
from policywatch.crawler.extract.attachment_links import fetched_name, not_a_file
from policywatch.crawler.extract.attachments import Limits
from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.encoding import decode_html
from policywatch.crawler.extract.sandbox import AttachmentReader, shared_reader
from policywatch.crawler.extract.walls import WALL_STATUSES, detect_wall
from policywatch.crawler.faults import is_programming_error
from policywatch.crawler.guard import RefusedRequest, host_key, source_hosts

T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from scrapy.http import Response
    from twisted.python.failure import Failure

    from policywatch.core.config import Source
    from policywatch.core.store import DocRef
    from policywatch.crawler.extract.listing import ListPage

MIN_TEXT_CHARS = 20
# The fetch error that marks a page as gone (the pipeline counts it towards removal).
REDIRECTED_AWAY = "redirected away to "
# Pages PolicyWatch reads: HTML, and the XML and JSON that list APIs answer with.
_READABLE_TYPES = ("text/html", "application/xhtml", "text/plain", "application/xml", "text/xml", "application/json",
               "text/json", "text/javascript", "application/javascript")


class PolicySpider(scrapy.Spider):
    """Base class: subclasses yield list and detail requests; this turns responses into items.

    ``refs`` are the source's stored documents: known URLs that are not due
    for a re-check are not fetched again, due ones are fetched with
    conditional headers so an unchanged page costs a 304.
    """

    def __init__(
        self, source: Source, refs: list[DocRef],
        attachments: dict[str, tuple[str | None, str | None, str]] | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(name=kwargs.pop("name", source.name), **kwargs)
        self.source = source
        self.refs = {ref.fetch_url: ref for ref in refs} | {ref.url: ref for ref in refs}
        self.attachments = attachments or {}  # stored attachments: URL → (ETag, Last-Modified, page URL)
        self.attachments_of: dict[str, list[str]] = {}  # page URL → its stored attachments' URLs
        for url, (*_, page) in self.attachments.items():
            self.attachments_of.setdefault(page, []).append(url)
        self.scheduled: set[str] = set()
        self.hosts = source_hosts(source)  # where its redirects and canonical links may point

    # -- requests ---------------------------------------------------------

    def due_requests(self) -> Iterator[scrapy.Request]:
        """Re-checks of the stored documents that are due, whether or not a list still shows them (each once,
        though ``refs`` holds it under its canonical and its fetched URL)."""
        for ref in {r.id: r for r in self.refs.values()}.values():
            if not ref.due:
                continue
            request = self.detail_request(ref.fetch_url)
            if request is not None:
                yield request

    def listed(self, response: Response, listing: ListPage) -> Iterator[Fetch | scrapy.Request]:
        """A list page's fetch row, then detail requests for its first ``max_items_per_page`` items, carrying the
        list's title and date (stored, not-due ones skipped). A page listing more (a broken or hostile one: the
        size cap allows a hundred thousand links) would queue a request for every one; the row notes the rest."""
        cap = self.item_cap
        warning = None
        if len(listing.items) > cap:
            warning = ITEMS_CAPPED.format(listed=len(listing.items), cap=cap)
            self.logger.warning("%s: %s", response.url, warning)
        yield self.fetch_of(response, "list", items=listing.found, warning=warning)
        for item in listing.items[:cap]:
            request = self.detail_request(item.url, title=item.title, date=item.date)
            if request is not None:
                yield request

    @functools.cached_property
    def item_cap(self) -> int:
        """``[crawl] max_items_per_page``, read from the settings once."""
        return self.settings.getint("PW_MAX_ITEMS_PER_PAGE", 1000)

    def detail_request(self, url: str, **hints: str | None) -> scrapy.Request | None:
        """A request for a detail page, or None if it is stored and not yet due (or queued)."""
        ref = self.refs.get(url)
        if url in self.scheduled or (ref is not None and not ref.due):
            return None
        self.scheduled.add(url)
        headers = {}
        if ref is not None and ref.etag:
            headers["If-None-Match"] = ref.etag
        if ref is not None and ref.last_modified:
            headers["If-Modified-Since"] = ref.last_modified
        return scrapy.Request(
            url, headers=headers, callback=self.parse_detail, errback=self.on_error,
            cb_kwargs={"list_title": hints.get("title"), "list_date": hints.get("date")},
            meta={"kind": "detail", "handle_httpstatus_list": [304]},
            # Duplicates are already skipped above; the dupefilter would also swallow
            # the second hop of a redirect loop, which must be reported instead.
            dont_filter=True,
        )

    def attachment_request(self, url: str, document_url: str) -> scrapy.Request | None:
        """Fetch a linked file whenever its page is fetched; conditionally if it is stored."""
        if url in self.scheduled:
            return None
        self.scheduled.add(url)
        etag, modified, _ = self.attachments.get(url, (None, None, None))
        headers = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", modified)) if v}
        return scrapy.Request(
            url, headers=headers, callback=self.parse_attachment, errback=self.on_error,
            cb_kwargs={"document_url": document_url}, dont_filter=True,
            meta={"kind": "attachment", "handle_httpstatus_list": [304],
                  "download_maxsize": self.settings.getint("PW_MAX_ATTACHMENT_BYTES")},
        )

    # -- responses --------------------------------------------------------

    def fetch_of(self, response: Response, kind: str, **extra: Any) -> Fetch:
        for key in ("error", "warning"):  # reasons quote pages and API answers ("not JSON: …", "API error: …")
            if extra.get(key):
                extra[key] = clean_text(extra[key])
        return Fetch(
            source=self.source.name, url=_original_url(response.request, response.url), kind=kind,
            fetched_at=now_iso(), status=response.status, bytes=len(response.body),
            etag=_header(response, "ETag"), last_modified=_header(response, "Last-Modified"),
            **extra,
        )

    def decode(self, response: Response) -> tuple[str, str | None]:
        """Decoded page text and the reason it is unusable (not HTML, a wall), if any."""
        content_type = _header(response, "Content-Type")
        if content_type and not content_type.lower().startswith(_READABLE_TYPES):
            return "", f"not an HTML page ({content_type.split(';')[0]})"
        decoded = decode_html(response.body, content_type)
        return decoded.text, detect_wall(response.status, decoded.text)

    def parse_detail(
        self, response: Response, list_title: str | None = None, list_date: str | None = None
    ) -> Iterator[Fetch | Snapshot]:
        if response.status == 304:
            # The page is unchanged, but the files it links may not be.
            fetch = self.fetch_of(response, "detail")
            yield fetch
            # Its latest version's files first (some may never have been stored: a crawl cut short), then any
            # other stored ones.
            ref = self.refs.get(fetch.url)
            page = ref.url if ref is not None else fetch.url
            listed = ref.attachments if ref is not None else ()
            yield from self.attachment_requests(list(dict.fromkeys([*listed, *self.attachments_of.get(page, [])])),
                                                page)
            return
        away = _redirected_away(response)
        text, problem = self.decode(response)
        if away or problem:
            yield self.fetch_of(response, "detail", error=away or problem)
            return
        fields = self.read_page(response, "detail",
                                lambda: extract_detail(text, response.url, self.source.detail, list_title, list_date))
        if isinstance(fields, Fetch):
            yield fields
            return
        warning = "; ".join(fields.warnings)[:500] or None
        if warning:  # the page was read, but not as configured: kept on its fetch row for `sources list`
            self.logger.warning("%s: %s", response.url, warning)
        # A link-only page (a 解读 page that is a "查看原文" link) is stored as its link, flagged by its warning;
        # a linked file is fetched as its attachment below. Its link is not followed: the page it names is a
        # document of its own, and a list shows it or it is not this source's to store.
        if (len(fields.text) < MIN_TEXT_CHARS and not fields.linked_url) or not fields.title:
            yield self.fetch_of(response, "detail", error="no policy text extracted", warning=warning)
            return
        fetch = self.fetch_of(response, "detail", warning=warning)
        snapshot = Snapshot(
            fetch=fetch, canonical_url=self.trusted_canonical(fields.canonical_url, response.url, fetch.url),
            title=fields.title,
            text=fields.text, published=fields.published,
            authority=fields.authority or self.source.authority, doc_number=fields.doc_number,
            attachments=fields.attachments, index_number=fields.index_number, written=fields.written,
            subject=fields.subject,
        )
        yield snapshot
        yield from self.attachment_requests(fields.attachments, snapshot.canonical_url)

    def read_page(self, response: Response, kind: str, read: Callable[[], T]) -> T | Fetch:
        """What ``read`` makes of a page, or the page's fetch row saying that reading it failed: a page no rule
        foresaw (JSON nested a hundred thousand deep, markup that breaks a parser) must still leave a row behind,
        and the crawl goes on. An error in PolicyWatch's own code is raised: policywatch.crawler.run stops the crawl,
        naming it (policywatch.crawler.faults)."""
        try:
            return read()
        except Exception as e:
            if is_programming_error(e):
                raise
            self.logger.exception("extraction failed for %s", response.url)
            return self.fetch_of(response, kind, error=f"extraction failed: {type(e).__name__}: {e}"[:300])

    def trusted_canonical(self, canonical: str | None, page: str, fetched: str) -> str:
        """The URL to store a page under: its canonical link only if that names the host the page came from
        (``page``, after redirects) and that host is one of the source's; else the URL it was fetched by. A page
        anywhere on the web can claim any canonical URL, and a trusted claim names the document it replaces."""
        if not canonical or urlsplit(canonical).scheme.lower() not in ("http", "https"):
            return fetched
        host = host_key(canonical)
        return canonical if host == host_key(page) and host in self.hosts else fetched

    @functools.cached_property
    def attachment_cap(self) -> int:
        """``[crawl] max_attachments_per_page``, read from the settings once."""
        return self.settings.getint("PW_MAX_ATTACHMENTS_PER_PAGE", 50)

    @functools.cached_property
    def reader(self) -> AttachmentReader:
        """The process's attachment reader for the configured limits, looked up once."""
        return shared_reader(Limits(**self.settings.getdict("PW_ATTACHMENT_LIMITS")))

    def attachment_requests(self, urls: list[str], document_url: str) -> Iterator[scrapy.Request | Fetch]:
        """Requests for a page's first ``max_attachments_per_page`` files; one fetch row records the rest."""
        cap = self.attachment_cap
        for url in urls[:cap]:
            request = self.attachment_request(url, document_url)
            if request is not None:
                yield request
        if len(urls) > cap:
            yield Fetch(source=self.source.name, url=document_url, kind="attachment", fetched_at=now_iso(),
                        status=None, bytes=0,
                        error=f"{len(urls)} attachments linked; only the first {cap} fetched "
                              "([crawl] max_attachments_per_page)")

    async def parse_attachment(self, response: Response, document_url: str) -> AsyncIterator[Fetch | AttachmentFile]:
        """Read the file in a worker process under the configured limits (policywatch.crawler.extract.sandbox), awaiting
        it so the crawl goes on meanwhile; a file past a limit is stored as "too large to read".

        The file's name is the server's ``Content-Disposition`` one if given (download endpoints name files
        there), and with the bytes it decides the kind. A page, stylesheet or script that answered the link is no
        attachment: a fetch row says so, and no file is stored."""
        if response.status == 304:
            yield self.fetch_of(response, "attachment")
            return
        name = fetched_name(response.url, response.headers.get("Content-Disposition"))
        content_type = _header(response, "Content-Type")
        problem = not_a_file(response.body, name, content_type)
        if problem:
            yield self.fetch_of(response, "attachment", error=problem)
            return
        read = await self.reader.read_async(response.body, name, content_type)
        yield AttachmentFile(
            fetch=self.fetch_of(response, "attachment", error=read.error), document_url=document_url,
            kind=read.kind, sha256=read.sha256, size=read.size, text=read.text, error=read.error,
        )

    def on_error(self, failure: Failure) -> Iterator[Fetch]:
        """Every failed request becomes a fetch row with a one-line reason; the crawl goes on."""
        request = failure.request
        response = getattr(failure.value, "response", None)
        status = response.status if response is not None else None
        yield Fetch(
            source=self.source.name, url=_original_url(request, request.url),
            kind=request.meta.get("kind", "detail"), fetched_at=now_iso(), status=status,
            bytes=len(response.body) if response is not None else 0,
            error=describe_failure(failure, status, self.crawler.settings.getint("DOWNLOAD_MAXSIZE")),
        )


def describe_failure(failure: Failure, status: int | None, maxsize: int = 0) -> str:
    """A short, stable, human reason for a failed request (``maxsize``: the crawl's size cap, for a request that
    has none of its own)."""
    error = failure.value
    if isinstance(error, BrowserUnavailable | RefusedRequest):
        return str(error)
    if status in WALL_STATUSES:
        return f"anti-bot wall: {WALL_STATUSES[status]}"
    if status is not None:
        return f"HTTP {status}"
    message = failure.getErrorMessage()
    what = "file" if failure.request.meta.get("kind") == "attachment" else "page"
    cap = failure.request.meta.get("download_maxsize", maxsize)
    if "max size" in message:
        return f"{what} larger than the size cap: {message.split(' in request')[0]}"
    if "DOWNLOAD_MAXSIZE" in message and "decompress" in message:  # a compression bomb, stopped as it inflated
        return f"{what} larger than the size cap: its compressed body inflates past {cap:,} bytes"
    if isinstance(error, DownloadCancelledError) and not message.strip():
        # A body that grows past the cap with no length announced (endless, or inflating) is cut off by Scrapy
        # with a bare cancel; nothing else in a crawl cancels a download (its timeout has an error of its own).
        return f"{what} larger than the size cap: more than {cap:,} bytes arrived"
    if "max redirections" in message or "redirect" in message.lower():
        return "too many redirects (redirect loop)"
    if "robots.txt" in message:
        return "forbidden by robots.txt"
    kind = type(error).__name__
    if isinstance(error, TimeoutError | TCPTimedOutError) or "Timeout" in kind:
        return "timeout"
    if isinstance(error, DownloadConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ResponseDataLossError):
        return "answer cut short: the connection closed before the end the server announced"
    if unreadable := _NOT_HTTP.search(message):  # Twisted's ParseError, quoting the server's bytes
        return f"not an HTTP answer: {unreadable.group(1)}"
    if isinstance(error, DNSLookupError) or "Resolve" in kind:
        return f"DNS lookup failed for {urlsplit(failure.request.url).hostname}"
    if isinstance(error, ResponseNeverReceived):
        return "connection closed before a response"
    first_line = next(iter(message.strip().splitlines()), "")  # Playwright's errors go on with a call log
    return f"{kind}: {first_line}"[:300]


_NOT_HTTP = re.compile(r"ParseError: \('([^']{1,80})'")


def _redirected_away(response: Response) -> str | None:
    """A redirect to a different page (a portal's home or column page) means the page is gone.

    Redirects that keep the path (http → https, a trailing slash, index.html) do not count.
    """
    first = response.request.meta.get("redirect_urls", [None])[0]
    if first is None:
        return None

    def page(url: str) -> str:
        return urlsplit(url).path.removesuffix("index.html").rstrip("/")

    return None if page(first) == page(response.url) else REDIRECTED_AWAY + response.url


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _original_url(request: scrapy.Request, fallback: str) -> str:
    """The URL first asked for, before redirects: that is the URL the document is known by."""
    redirects = request.meta.get("redirect_urls")
    return redirects[0] if redirects else fallback
