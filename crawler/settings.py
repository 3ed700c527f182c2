"""Scrapy settings for every PolicyWatch crawl: polite by default, bounded, quiet."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.settings import default_settings

from policywatch.crawler.spiders import SPIDER_MODULES

if TYPE_CHECKING:
    from policywatch.core.config import CrawlSettings

# Scrapy's remote control (on by default in recent Scrapy) runs an HTTP server in every crawl process that executes
# Python code sent to it, and leaves a job file with its port and token in the user's home: a door into a process
# that reads hostile pages. The telnet console is the older such door. Both are left out of the extensions Scrapy
# loads (EXTENSIONS_BASE), not only disabled: Scrapy imports every listed extension, and the remote control's
# import (aiohttp) alone costs a crawl process 150 ms.
UNWANTED_EXTENSIONS = ("scrapy.extensions.remote_control.RemoteControl", "scrapy.extensions.telnet.TelnetConsole")
EXTENSIONS = {name: order for name, order in default_settings.EXTENSIONS_BASE.items()
              if name not in UNWANTED_EXTENSIONS}
# Only http(s) is ever crawled (policywatch.crawler.guard refuses the rest): the other schemes' handlers would only
# be loaded, and file:// would read this machine's files. The base setting, as a browser source's crawler sets
# DOWNLOAD_HANDLERS (policywatch.crawler.browser).
HTTP_HANDLERS = {scheme: handler for scheme, handler in default_settings.DOWNLOAD_HANDLERS_BASE.items()
                 if scheme in ("http", "https")}


def build_settings(crawl: CrawlSettings, redis_url: str = "") -> dict[str, Any]:
    """Scrapy settings from the config's [crawl] table (flat and alphabetical); ``redis_url`` (``[cluster] redis``)
    shares each host's concurrency and delay with every crawl process using that Redis
    (policywatch.crawler.politeness)."""
    return {
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.download_delay, 0.5),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl.concurrency_per_domain),
        # One synchronous pipeline writes items one by one; Scrapy's default (100) would start 100 asyncio
        # tasks for every response's output.
        "CONCURRENT_ITEMS": 1,
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "COOKIES_ENABLED": False,
        "DOWNLOAD_DELAY": crawl.download_delay,
        # The shared ticket spaces requests; a random local jitter would only hold one past its ticket.
        "DOWNLOAD_DELAY_JITTER": 0.0 if redis_url else 0.5,
        "DOWNLOAD_HANDLERS_BASE": HTTP_HANDLERS,
        "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
        "PW_ALLOW_HOSTS": list(crawl.allow_hosts),
        # What reading one attachment may cost (policywatch.crawler.extract.attachments.Limits).
        "PW_ATTACHMENT_LIMITS": {"cpu_seconds": crawl.attachment_cpu_seconds, "memory_mb": crawl.attachment_memory_mb,
                                 "max_unpacked": crawl.attachment_max_unpacked_bytes},
        "PW_MAX_ATTACHMENT_BYTES": crawl.max_attachment_bytes,
        "PW_MAX_ATTACHMENTS_PER_PAGE": crawl.max_attachments_per_page,
        "PW_MAX_ITEMS_PER_PAGE": crawl.max_items_per_page,
        "PW_REDIS_URL": redis_url,
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "DOWNLOAD_WARNSIZE": 0,
        # The request guard runs before everything else, robots.txt included (see policywatch.crawler.guard); the
        # browser middleware only in a browser source's crawler (policywatch.crawler.browser); shared politeness only
        # with a Redis, last, after robots.txt (policywatch.crawler.politeness).
        "DOWNLOADER_MIDDLEWARES": {"policywatch.crawler.guard.RequestGuard": 40,
                                   "policywatch.crawler.browser.BrowserMiddleware": 950,
                                   "policywatch.crawler.politeness.SharedPoliteness": 960},
        "EXTENSIONS_BASE": EXTENSIONS,
        "ITEM_PIPELINES": {"policywatch.crawler.pipelines.StorePipeline": 300},
        "LOG_LEVEL": "WARNING",
        # Scrapy's start-up list of library versions, logged at INFO (never shown here), still costs a `uname -p`
        # subprocess (platform.platform()) and a read of every package's metadata on each crawler start.
        "LOG_VERSIONS": [],
        "REDIRECT_MAX_TIMES": 10,
        "REMOTE_CONTROL_ENABLED": False,
        "RETRY_TIMES": crawl.retries,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "SPIDER_MODULES": SPIDER_MODULES,
        "TELNETCONSOLE_ENABLED": False,
        "TWISTED_DNS_RESOLVER": "policywatch.crawler.guard.PinnedResolver",
        "USER_AGENT": crawl.user_agent,
        # A development check that re-reads a generator callback's source on every response.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
    }
