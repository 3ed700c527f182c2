"""Load config.toml into frozen dataclasses, rejecting anything it does not understand.

Every problem becomes one ConfigError line naming the file, the key and what is
wrong, e.g. ``config.toml: sources[2].list.item: required key is missing``.
Unknown keys are errors too: a misspelt key silently ignored is a source that
silently never works.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import parsel
from cssselect import SelectorError
from lxml.etree import XPathError

from policywatch.core import dburl, notifyurl
from policywatch.core.cron import CronError, cron_trigger
from policywatch.core.platforms import PLATFORMS

DEFAULT_USER_AGENT = "PolicyWatch/0.1 (policy change monitor; +https://github.com/policywatch)"
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
REDIS_URL = re.compile(r"^(?:rediss?://[^\s/?#]+(?:/\d{1,2})?/?|unix:///[^\s?#]+(?:\?db=\d{1,2})?)$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOST_NAME = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?"
# [crawl] allow_hosts: an IP address, a network, or a host name; a source's allowed_hosts: host or host:port.
_ALLOW_HOST = (re.compile(rf"{_HOST_NAME}|[0-9A-Fa-f:.]+(?:/\d{{1,3}})?"),
               "an IP address, a network (like 10.0.0.0/8) or a host name")
_SOURCE_HOST = (re.compile(rf"(?:{_HOST_NAME}|\[[0-9A-Fa-f:.]+\])(?::\d{{1,5}})?"),
                "a host name or host:port (no scheme or path)")


class ConfigError(Exception):
    """A bad config file: ``str()`` is the one line shown to the user."""

    def __init__(self, file: str | Path, key: str, message: str) -> None:
        self.file, self.key, self.message = str(file), key, message
        where = f"{Path(file).name}: {key}: " if key else f"{Path(file).name}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class ListRule:
    """How to read a list page: selectors for items and, inside each item, its fields."""

    item: str
    link: str = "a::attr(href)"
    title: str | None = None
    date: str | None = None
    next_page: str | None = None
    max_pages: int = 1


@dataclass(frozen=True)
class DetailRule:
    """Selectors for a detail page; any left out are found automatically."""

    title: str | None = None
    body: str | None = None
    date: str | None = None
    authority: str | None = None
    doc_number: str | None = None


@dataclass(frozen=True)
class Source:
    """One configured portal section (the vocabulary's *source*)."""

    name: str
    title: str
    authority: str
    start_urls: tuple[str, ...]
    list: ListRule
    detail: DetailRule | None = None
    region: str = ""  # empty: each document's region is inferred from its authority and title
    language: str = "zh-Hans"
    recheck_days: float | None = None
    schedule: str = "@daily"  # cron string: when `policywatch serve` crawls it
    verified: bool = False  # its extraction is tested on saved pages of the portal
    expect_items: int | None = None  # a list run finding fewer items than this is a breakage
    platform: str | None = None  # the CMS it runs on (policywatch.core.platforms), which supplies default rules
    fetcher: str = "http"  # or "browser": pages are rendered in headless Chromium (JS-built lists, JS walls)
    allowed_hosts: tuple[str, ...] = ()  # hosts (host or host:port) besides its start URLs' its redirects may go to
    queue: str = "default"  # the crawl-job queue: only workers started with --queue for it take its jobs
    kind: str = "policy"  # or "news": industry news, associations, media; a digest's 行业动态 section


@dataclass(frozen=True)
class CrawlSettings:
    """Politeness and limits shared by every crawl."""

    user_agent: str = DEFAULT_USER_AGENT
    obey_robots: bool = True
    concurrency_per_domain: int = 2
    download_delay: float = 1.0
    autothrottle: bool = True
    timeout: float = 30.0
    retries: int = 2
    max_page_bytes: int = 5_000_000
    max_attachment_bytes: int = 20_000_000
    attachment_cpu_seconds: float = 60.0  # CPU time reading one attachment may take; past it, "too large to read"
    attachment_memory_mb: int = 448  # address space of the process reading attachments, its libraries included
    attachment_max_unpacked_bytes: int = 200_000_000  # bytes a DOCX/XLSX may inflate to (counted, not declared)
    recheck_days: float = 7.0
    run_timeout: float = 3600.0  # seconds a scheduled crawl may run before it is stopped
    processes: int | None = None  # crawl processes sharing the sources out; None: one per CPU
    allow_hosts: tuple[str, ...] = ()  # addresses, networks, host names exempt from the internal-address rule
    max_attachments_per_page: int = 50  # attachment requests one page may cause; the rest are recorded, not fetched
    max_items_per_page: int = 1000  # detail requests one list page may cause; the rest are noted, not followed


@dataclass(frozen=True)
class DetectSettings:
    """How changes and reposts are recognised."""

    duplicate_threshold: float = 0.8  # share (0–1) of the shorter text found in the other: one policy


@dataclass(frozen=True)
class Topic:
    """A keyword set a digest selects on; terms match Simplified-normalised text."""

    name: str
    title: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()


PERIODS = ("month", "week")
LAYOUTS = ("list", "by-region")
LANGUAGES = ("zh-Hans", "zh-Hant", "en")


@dataclass(frozen=True)
class DigestSpec:
    """One periodic digest: which topics and regions, how it is laid out, in which language."""

    name: str
    topics: tuple[str, ...]
    period: str = "month"
    regions: tuple[str, ...] = ()  # empty: every region
    layout: str = "list"
    language: str = "zh-Hans"
    min_score: float = 2.0  # relevance an item needs (see policywatch.digest.topics.relevance)
    schedule: str = ""  # cron string for `serve`; empty: DEFAULT_DIGEST_SCHEDULE of its period
    notify: tuple[str, ...] = ()  # Apprise URLs (chat groups, webhooks) each issue is posted to, besides the mail

    @property
    def cron(self) -> str:
        return self.schedule or DEFAULT_DIGEST_SCHEDULE[self.period]


# When `serve` sends a digest that names no schedule: the previous month on the 1st, the previous week on Monday.
DEFAULT_DIGEST_SCHEDULE = {"month": "0 9 1 * *", "week": "0 9 * * 1"}
SECURITY = ("none", "starttls", "tls")


@dataclass(frozen=True)
class SmtpSettings:
    """The mail server digests and alerts go through; the password is read from the environment only."""

    sender: str
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"  # "starttls" or "tls" (SMTPS)
    username: str = ""
    password_env: str = "POLICYWATCH_SMTP_PASSWORD"
    timeout: float = 30.0
    max_attempts: int = 5  # per message, counting the first; temporary failures (4xx, no connection) only
    retry_delay: float = 30.0  # seconds before the first retry; doubled before each later one

    def password(self) -> str | None:
        return os.environ.get(self.password_env) or None


@dataclass(frozen=True)
class DeliverySettings:
    """Unsubscribe links: where they point and which environment variable holds their signing secret."""

    unsubscribe_url: str = ""  # must contain {token}; empty: links and List-Unsubscribe are mailto: only
    secret_env: str = "POLICYWATCH_SECRET"


@dataclass(frozen=True)
class WebSettings:
    """`policywatch web`, the subscription page: its public address and the limits that keep it from being abused."""

    url: str  # the app's public address, ending in "/": confirmation and unsubscribe links are built on it
    confirm_hours: float = 48.0  # an unconfirmed subscription is dropped after this
    subscribe_per_address: int = 3  # subscribe requests one address may get per hour; more are dropped silently
    subscribe_per_client: int = 10  # subscribe requests one client (IP address, IPv6 /64) may make per hour

    @property
    def unsubscribe_url(self) -> str:
        """The one-click unsubscribe endpoint, as ``[delivery] unsubscribe_url`` writes it."""
        return self.url + "unsubscribe?token={token}"


@dataclass(frozen=True)
class AlertSettings:
    """Who hears about a broken source, and after how many failing runs in a row."""

    maintainers: tuple[str, ...] = ()
    consecutive_errors: int = 3
    notify: tuple[str, ...] = ()  # Apprise URLs (chat groups, webhooks) each alert is posted to, besides the mail


@dataclass(frozen=True)
class ClusterSettings:
    """Crawl jobs through Redis: `serve` enqueues them, `policywatch worker` on any machine takes them."""

    redis: str  # redis://host:6379/0, rediss://… or unix:///path/redis.sock
    heartbeat_seconds: float = 60.0  # a worker silent this long is dead: its unfinished jobs go to another
    job_timeout: float | None = None  # seconds a crawl job may run; None: [crawl] run_timeout


@dataclass(frozen=True)
class Config:
    path: Path
    db: Path | str  # a SQLite file, or a postgresql:// URL (kept as written; shown through ``db_label``)
    crawl: CrawlSettings = field(default_factory=CrawlSettings)
    detect: DetectSettings = field(default_factory=DetectSettings)
    sources: tuple[Source, ...] = ()
    topics: tuple[Topic, ...] = ()
    digests: tuple[DigestSpec, ...] = ()
    templates: Path | None = None  # a folder whose templates override the built-in ones
    site: Path | None = None  # the archive site's folder: `serve` brings it up to date after every crawl
    site_url: str = ""  # where the archive site is published ("https://…/"); empty: unknown
    timezone: str = "Asia/Shanghai"  # the zone schedules are read in
    smtp: SmtpSettings | None = None
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    cluster: ClusterSettings | None = None  # None: crawls run on this machine, without a queue
    web: WebSettings | None = None  # None: no subscription page (`policywatch web` refuses to start)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def postgres(self) -> bool:
        """Whether the database is PostgreSQL (``db = "postgresql://…"``) rather than a SQLite file."""
        return dburl.is_postgres(self.db)

    @property
    def db_label(self) -> str:
        """The database as messages and logs name it: the file, or the URL with its password masked."""
        return dburl.mask(self.db)

    @property
    def state_dir(self) -> Path:
        """The folder of this machine's run files beside the database: logs/, locks/ and the serve socket.

        A PostgreSQL database lives on a server, so they go into a ``state`` folder beside the config file."""
        return self.path.parent / "state" if isinstance(self.db, str) else self.db.parent

    def db_exists(self) -> bool:
        """Whether the database is there to be read: the SQLite file exists (opening it would create it); a
        PostgreSQL database is created by its server's administrator, and its tables by the first store opened."""
        return isinstance(self.db, str) or self.db.exists()

    def require_smtp(self) -> SmtpSettings:
        """The [smtp] table, or the one-line error every mail-sending command gives without it."""
        if self.smtp is None:
            raise ConfigError(self.path, "smtp", "no [smtp] table: sending mail needs one (see README)")
        return self.smtp

    def digest(self, name: str) -> DigestSpec:
        for spec in self.digests:
            if spec.name == name:
                return spec
        known = ", ".join(d.name for d in self.digests) or "none configured"
        raise ConfigError(self.path, "digests", f"no digest named {name!r} (known: {known})")

    def topic(self, name: str) -> Topic:
        return next(t for t in self.topics if t.name == name)

    def source(self, name: str) -> Source:
        if name in self._by_name:
            return self._by_name[name]
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(self.path, "sources", f"no source named {name!r} (known: {known})")

    def region_of(self, name: str) -> str | None:
        """A source's region; None for a source no longer configured (its documents remain)."""
        source = self._by_name.get(name)
        return source.region if source else None

    def authority_of(self, name: str) -> str | None:
        """A source's configured issuing body; None for a source no longer configured."""
        source = self._by_name.get(name)
        return source.authority if source else None

    def kind_of(self, name: str) -> str:
        """A source's kind, "policy" or "news"; the default, "policy", for a source no longer configured (its
        documents remain)."""
        source = self._by_name.get(name)
        return source.kind if source else "policy"

    @functools.cached_property
    def _by_name(self) -> dict[str, Source]:
        """Sources by name, built once: a digest asks for every item's region, a crawl for every source."""
        return {s.name: s for s in self.sources}

    def select(self, names: list[str] | tuple[str, ...]) -> tuple[Source, ...]:
        """The named sources, or all of them when no name is given."""
        return tuple(self.source(n) for n in names) if names else self.sources


# A schema is {key: (type or tuple of types, required)}. Types are checked exactly;
# bool is not accepted where a number is expected.
_Schema = dict[str, tuple[Any, bool]]

_CRAWL: _Schema = {
    "user_agent": (str, False),
    "obey_robots": (bool, False),
    "concurrency_per_domain": (int, False),
    "download_delay": ((int, float), False),
    "autothrottle": (bool, False),
    "timeout": ((int, float), False),
    "retries": (int, False),
    "max_page_bytes": (int, False),
    "max_attachment_bytes": (int, False),
    "attachment_cpu_seconds": ((int, float), False),
    "attachment_memory_mb": (int, False),
    "attachment_max_unpacked_bytes": (int, False),
    "recheck_days": ((int, float), False),
    "run_timeout": ((int, float), False),
    "processes": (int, False),
    "allow_hosts": (list, False),
    "max_attachments_per_page": (int, False),
    "max_items_per_page": (int, False),
}
_DETECT: _Schema = {"duplicate_threshold": ((int, float), False)}
_LIST: _Schema = {
    "item": (str, False),  # required, but a platform may supply it
    "link": (str, False),
    "title": (str, False),
    "date": (str, False),
    "next_page": (str, False),
    "max_pages": (int, False),
}
_DETAIL: _Schema = {k: (str, False) for k in ("title", "body", "date", "authority", "doc_number")}
_SOURCE: _Schema = {
    "name": (str, True),
    "title": (str, True),
    "region": (str, False),
    "authority": (str, True),
    "start_urls": (list, True),
    "list": (dict, False),  # required unless the platform supplies it
    "detail": (dict, False),
    "language": (str, False),
    "recheck_days": ((int, float), False),
    "schedule": (str, False),
    "verified": (bool, False),
    "expect_items": (int, False),
    "platform": (str, False),
    "fetcher": (str, False),
    "allowed_hosts": (list, False),
    "queue": (str, False),
    "kind": (str, False),
}
_TOPIC: _Schema = {"title": (str, True), "include": (list, True), "exclude": (list, False)}
_DIGEST: _Schema = {
    "name": (str, True),
    "period": (str, False),
    "topics": (list, True),
    "regions": (list, False),
    "layout": (str, False),
    "language": (str, False),
    "min_score": ((int, float), False),
    "schedule": (str, False),
    "notify": (list, False),
}
_SMTP: _Schema = {
    "host": (str, True), "port": (int, False), "security": (str, False), "username": (str, False),
    "password_env": (str, False), "sender": (str, True), "timeout": ((int, float), False),
    "max_attempts": (int, False), "retry_delay": ((int, float), False),
}
_DELIVERY: _Schema = {"unsubscribe_url": (str, False), "secret_env": (str, False)}
_WEB: _Schema = {"url": (str, True), "confirm_hours": ((int, float), False), "subscribe_per_address": (int, False),
                 "subscribe_per_client": (int, False)}
_ALERTS: _Schema = {"maintainers": (list, False), "consecutive_errors": (int, False), "notify": (list, False)}
_CLUSTER: _Schema = {"redis": (str, True), "heartbeat_seconds": ((int, float), False),
                     "job_timeout": ((int, float), False)}
_TOP: _Schema = {
    "db": (str, False), "templates": (str, False), "site": (str, False), "site_url": (str, False),
    "timezone": (str, False),
    "crawl": (dict, False), "detect": (dict, False), "topics": (dict, False), "digests": (list, False),
    "sources": (list, False), "smtp": (dict, False), "delivery": (dict, False), "alerts": (dict, False),
    "cluster": (dict, False), "web": (dict, False),
}
_SELECTOR_KEYS = {"item", "link", "title", "date", "next_page", "body", "authority", "doc_number"}
FETCHERS = ("http", "browser")
SOURCE_KINDS = ("policy", "news")
JSON_PREFIX = "json:"


def load(path: str | Path, db: str | Path | None = None) -> Config:
    """Read and validate a config file; ``db`` overrides the file's ``db`` key.

    A relative ``db`` in the file is resolved against the file's folder, so a
    config works the same from any working directory.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(path, "", f"cannot read file: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, "", f"invalid TOML: {e}") from None
    return parse(raw, path, db)


def parse(raw: dict[str, Any], path: Path, db: str | Path | None = None) -> Config:
    """Validate an already-decoded TOML document (see :func:`load`)."""
    _check(raw, _TOP, "", path)
    crawl_values = _check(raw.get("crawl", {}), _CRAWL, "crawl", path)
    crawl_values["allow_hosts"] = _hosts(crawl_values, "allow_hosts", "crawl", _ALLOW_HOST, path)
    crawl = CrawlSettings(**crawl_values)
    for key in ("concurrency_per_domain", "max_page_bytes", "max_attachment_bytes", "timeout", "run_timeout",
                "attachment_cpu_seconds", "attachment_max_unpacked_bytes", "max_items_per_page"):
        if getattr(crawl, key) <= 0:
            raise ConfigError(path, f"crawl.{key}", "must be greater than 0")
    for key in ("download_delay", "retries", "recheck_days", "max_attachments_per_page"):
        if getattr(crawl, key) < 0:
            raise ConfigError(path, f"crawl.{key}", "must be 0 or more")
    if crawl.attachment_memory_mb < 256:  # the reading process's Python and libraries alone take about 200 MB
        raise ConfigError(path, "crawl.attachment_memory_mb", "must be at least 256")
    if crawl.processes is not None and crawl.processes <= 0:
        raise ConfigError(path, "crawl.processes", "must be greater than 0")
    detect = DetectSettings(**_check(raw.get("detect", {}), _DETECT, "detect", path))
    if not 0 < detect.duplicate_threshold <= 1:
        raise ConfigError(path, "detect.duplicate_threshold", "must be between 0 and 1")
    sources = tuple(_source(s, f"sources[{i}]", path) for i, s in enumerate(raw.get("sources", [])))
    seen: set[str] = set()
    for i, source in enumerate(sources):
        if source.name in seen:
            raise ConfigError(path, f"sources[{i}].name", f"duplicate source name {source.name!r}")
        seen.add(source.name)
    db_path = _db(raw, path, db)
    topics = tuple(_topic(name, t, path) for name, t in raw.get("topics", {}).items())
    digests = tuple(_digest(d, f"digests[{i}]", {t.name for t in topics}, path)
                    for i, d in enumerate(raw.get("digests", [])))
    names = [d.name for d in digests]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(path, f"digests[{i}].name", f"duplicate digest name {name!r}")
    templates = path.parent / raw["templates"] if "templates" in raw else None
    if templates is not None and not templates.is_dir():
        raise ConfigError(path, "templates", f"{templates} is not a folder")
    site = path.parent / raw["site"] if "site" in raw else None
    if site is not None and site.exists() and not site.is_dir():
        raise ConfigError(path, "site", f"{site} is a file, not a folder for the archive site")
    timezone = raw.get("timezone", "Asia/Shanghai")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(path, "timezone", f"unknown time zone {timezone!r} (e.g. Asia/Shanghai)") from None
    for i, source in enumerate(sources):
        _schedule(source.schedule, f"sources[{i}].schedule", zone, path)
    for i, spec in enumerate(digests):
        _schedule(spec.cron, f"digests[{i}].schedule", zone, path)
    web = _web(raw, path)
    return Config(path=path, db=db_path, crawl=crawl, detect=detect, sources=sources, topics=topics,
                  digests=digests, templates=templates, site=site, site_url=_site_url(raw, path), timezone=timezone,
                  smtp=_smtp(raw, path),
                  delivery=_delivery(raw, path, web), alerts=_alerts(raw, path), cluster=_cluster(raw, path), web=web)


def _db(raw: dict[str, Any], path: Path, db: str | Path | None) -> Path | str:
    """The database: ``db`` (--db) or the file's ``db`` key, a SQLite path (relative to the config file's folder)
    or a ``postgresql://`` URL, checked here so a malformed URL is one line (its password never shown)."""
    value = str(db) if db is not None else raw.get("db", "state.db")
    if dburl.is_postgres(value):
        problem = dburl.check_postgres_url(value)
        if problem:
            raise ConfigError(path, "db", f"{dburl.mask(value)}: {problem}")
        return value
    other = dburl.scheme(value)
    if other is not None:
        raise ConfigError(path, "db", f"{dburl.mask(value)}: unsupported database {other!r} "
                          "(a SQLite file path, or postgresql://user:password@host:5432/database)")
    return Path(db) if db is not None else path.parent / value


def _schedule(expression: str, key: str, zone: ZoneInfo, path: Path) -> None:
    try:
        cron_trigger(expression, zone)
    except CronError as e:
        raise ConfigError(path, key, str(e)) from None


def _smtp(raw: dict[str, Any], path: Path) -> SmtpSettings | None:
    if "smtp" not in raw:
        return None
    values = _check(raw["smtp"], _SMTP, "smtp", path)
    if values.get("security", "none") not in SECURITY:
        raise ConfigError(path, "smtp.security", f"must be one of: {', '.join(SECURITY)}")
    if not 0 < values.get("port", 25) < 65536:
        raise ConfigError(path, "smtp.port", "must be a TCP port (1-65535)")
    for key in ("max_attempts", "timeout"):
        if values.get(key, 1) <= 0:
            raise ConfigError(path, f"smtp.{key}", "must be greater than 0")
    if values.get("retry_delay", 0) < 0:
        raise ConfigError(path, "smtp.retry_delay", "must be 0 or more")
    _env_name(values, "password_env", "smtp", "POLICYWATCH_SMTP_PASSWORD", path)
    from policywatch.core.addresses import AddressError, parse_mailbox

    try:
        parse_mailbox(values["sender"])
    except AddressError as e:
        raise ConfigError(path, "smtp.sender", str(e)) from None
    return SmtpSettings(**values)


def _site_url(raw: dict[str, Any], path: Path) -> str:
    """The archive site's public address, ending in "/" so the site's paths join onto it (Atom feeds name their
    own address with it)."""
    return _base_url(raw.get("site_url", ""), "site_url", path)


def _base_url(url: str, key: str, path: Path) -> str:
    """An http(s) address without query or fragment, ending in "/" so paths join onto it."""
    if url and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", url):
        raise ConfigError(path, key, f"{url!r} is not an http(s) address like 'https://example.org/policy/'")
    return url if not url or url.endswith("/") else url + "/"


def _delivery(raw: dict[str, Any], path: Path, web: WebSettings | None) -> DeliverySettings:
    """Unsubscribe links: as written, or, with a [web] table, the subscription page's own endpoint. Both given and
    not the same is an error: a one-click link that is not the page's would reach nothing that can act on it."""
    values = _check(raw.get("delivery", {}), _DELIVERY, "delivery", path)
    url = values.get("unsubscribe_url", "")
    if url and (not re.match(r"https?://", url) or "{token}" not in url):
        raise ConfigError(path, "delivery.unsubscribe_url", "must be an http(s) URL containing {token}")
    if web is not None:
        if url and url != web.unsubscribe_url:
            raise ConfigError(path, "delivery.unsubscribe_url",
                              f"is {url!r}, but `policywatch web` answers unsubscribe links at {web.unsubscribe_url!r}"
                              " ([web] url): leave unsubscribe_url out and the links point there")
        values["unsubscribe_url"] = web.unsubscribe_url
    _env_name(values, "secret_env", "delivery", "POLICYWATCH_SECRET", path)
    return DeliverySettings(**values)


def _web(raw: dict[str, Any], path: Path) -> WebSettings | None:
    if "web" not in raw:
        return None
    values = _check(raw["web"], _WEB, "web", path)
    values["url"] = _base_url(values["url"], "web.url", path)
    if values.get("confirm_hours", 1) <= 0:
        raise ConfigError(path, "web.confirm_hours", "must be greater than 0")
    for key in ("subscribe_per_address", "subscribe_per_client"):
        if values.get(key, 1) < 1:
            raise ConfigError(path, f"web.{key}", "must be at least 1")
    return WebSettings(**values)


def _env_name(values: dict[str, Any], key: str, table: str, example: str, path: Path) -> None:
    """Secrets come from the environment: these keys hold a variable's name, never the secret itself."""
    if key in values and not ENV_NAME.match(values[key]):
        raise ConfigError(path, f"{table}.{key}",
                          f"must name an environment variable (like {example}), not hold the secret")


def _alerts(raw: dict[str, Any], path: Path) -> AlertSettings:
    values = _check(raw.get("alerts", {}), _ALERTS, "alerts", path)
    from policywatch.core.addresses import AddressError, normalise_address

    maintainers = []
    for i, address in enumerate(values.get("maintainers", [])):
        try:
            maintainers.append(normalise_address(address if isinstance(address, str) else repr(address)))
        except AddressError as e:
            raise ConfigError(path, f"alerts.maintainers[{i}]", str(e)) from None
    if values.get("consecutive_errors", 1) < 1:
        raise ConfigError(path, "alerts.consecutive_errors", "must be at least 1")
    return AlertSettings(tuple(maintainers), values.get("consecutive_errors", 3),
                         _notify(values, "alerts", "the [alerts] table", path))


def _notify(values: dict[str, Any], key: str, owner: str, path: Path) -> tuple[str, ...]:
    """A table's ``notify`` list: Apprise URLs, each checked by Apprise (nothing is sent); a bad one is one line
    naming the table and the URL, the URL shown with its secrets left out (policywatch.core.notifyurl)."""
    urls = values.get("notify", [])
    seen = set()
    for i, url in enumerate(urls):
        where = f"{key}.notify[{i}]"
        if not isinstance(url, str):
            raise ConfigError(path, where, f"expected an Apprise URL like 'wecombot://KEY' ({owner}), "
                              f"got {type(url).__name__}")
        problem = notifyurl.problem(url)
        if problem is not None:
            raise ConfigError(path, where, f"{notifyurl.shown(url)} ({owner}): {problem}")
        if url.strip() in seen:
            raise ConfigError(path, where, f"{notifyurl.shown(url)} ({owner}): listed twice")
        seen.add(url.strip())
    return tuple(url.strip() for url in urls)


def _cluster(raw: dict[str, Any], path: Path) -> ClusterSettings | None:
    if "cluster" not in raw:
        return None
    values = _check(raw["cluster"], _CLUSTER, "cluster", path)
    if not REDIS_URL.match(values["redis"]):
        raise ConfigError(path, "cluster.redis", "must be a Redis URL: redis://host:6379/0, rediss://… or unix:///path")
    for key in ("heartbeat_seconds", "job_timeout"):
        if values.get(key, 1) <= 0:
            raise ConfigError(path, f"cluster.{key}", "must be greater than 0")
    return ClusterSettings(**values)


def _hosts(values: dict[str, Any], name: str, key: str, kind: tuple[re.Pattern[str], str], path: Path
           ) -> tuple[str, ...]:
    """A list of host entries, each matching ``kind`` (a pattern and what it stands for, for the error)."""
    pattern, what = kind
    hosts = values.get(name, [])
    for i, host in enumerate(hosts):
        if not isinstance(host, str) or not pattern.fullmatch(host.strip()) or (
                "/" in host and not _is_network(host)):
            raise ConfigError(path, f"{key}.{name}[{i}]", f"{host!r} is not {what}")
    return tuple(host.strip().lower() for host in hosts)


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return False
    return True


def _terms(values: dict[str, Any], name: str, key: str, path: Path) -> tuple[str, ...]:
    terms = values.get(name, [])
    if not all(isinstance(t, str) and t.strip() for t in terms):
        raise ConfigError(path, f"{key}.{name}", "must be a list of non-empty strings")
    return tuple(t.strip() for t in terms)


def _topic(name: str, raw: Any, path: Path) -> Topic:
    key = f"topics.{name}"
    if not SOURCE_NAME.match(name):
        raise ConfigError(path, key, "topic names must be lowercase letters, digits and '-'")
    values = _check(raw, _TOPIC, key, path)
    include = _terms(values, "include", key, path)
    if not include:
        raise ConfigError(path, f"{key}.include", "must list at least one term")
    return Topic(name, values["title"], include, _terms(values, "exclude", key, path))


def _digest(raw: Any, key: str, topics: set[str], path: Path) -> DigestSpec:
    if not isinstance(raw, dict):
        raise ConfigError(path, key, "must be a table ([[digests]])")
    values = _check(raw, _DIGEST, key, path)
    if not SOURCE_NAME.match(values["name"]):
        raise ConfigError(path, f"{key}.name", "must be lowercase letters, digits and '-'")
    for name, allowed in (("period", PERIODS), ("layout", LAYOUTS), ("language", LANGUAGES)):
        if name in values and values[name] not in allowed:
            raise ConfigError(path, f"{key}.{name}", f"must be one of: {', '.join(allowed)}")
    values["topics"] = _terms(values, "topics", key, path)
    if not values["topics"]:
        raise ConfigError(path, f"{key}.topics", "must name at least one topic")
    for topic in values["topics"]:
        if topic not in topics:
            known = ", ".join(sorted(topics)) or "none defined"
            raise ConfigError(path, f"{key}.topics", f"no topic named {topic!r} (defined: {known})")
    values["regions"] = _terms(values, "regions", key, path)
    values["notify"] = _notify(values, key, f"digest {values['name']!r}", path)
    if values.get("min_score", 0) < 0:
        raise ConfigError(path, f"{key}.min_score", "must be 0 or more")
    return DigestSpec(**values)


def _source(raw: Any, key: str, path: Path) -> Source:
    if not isinstance(raw, dict):
        raise ConfigError(path, key, "must be a table ([[sources]])")
    values = _check(raw, _SOURCE, key, path)
    if not SOURCE_NAME.match(values["name"]):
        raise ConfigError(path, f"{key}.name", "must be lowercase letters, digits and '-'")
    urls = values["start_urls"]
    if not urls or not all(isinstance(u, str) and re.match(r"https?://", u) for u in urls):
        raise ConfigError(path, f"{key}.start_urls", "must be a non-empty list of http(s) URLs")
    values["start_urls"] = tuple(urls)
    if values.get("recheck_days", 0) < 0:
        raise ConfigError(path, f"{key}.recheck_days", "must be 0 or more")
    if values.get("expect_items", 1) < 1:
        raise ConfigError(path, f"{key}.expect_items", "must be at least 1")
    if not SOURCE_NAME.match(values.get("queue", "default")):
        raise ConfigError(path, f"{key}.queue", "must be lowercase letters, digits and '-' (like 'browser')")
    if values.get("fetcher", "http") not in FETCHERS:
        raise ConfigError(path, f"{key}.fetcher", f"must be one of: {', '.join(FETCHERS)}")
    if values.get("kind", "policy") not in SOURCE_KINDS:
        raise ConfigError(path, f"{key}.kind", f"must be one of: {', '.join(SOURCE_KINDS)}")
    values["allowed_hosts"] = _hosts(values, "allowed_hosts", key, _SOURCE_HOST, path)
    platform = None
    if "platform" in values:
        platform = PLATFORMS.get(values["platform"])
        if platform is None:
            raise ConfigError(path, f"{key}.platform",
                              f"unknown platform {values['platform']!r} (known: {', '.join(PLATFORMS)})")
    # A source on a known platform gives only what differs from the platform's rules.
    list_values = {**(platform.list if platform else {}), **_check(values.get("list", {}), _LIST, f"{key}.list", path)}
    if "item" not in list_values:
        raise ConfigError(path, f"{key}.list.item", "required key is missing")
    if list_values.get("max_pages", 1) < 1:
        raise ConfigError(path, f"{key}.list.max_pages", "must be at least 1")
    values["list"] = ListRule(**compile_selectors(list_values, f"{key}.list", path))
    detail_values = {**(platform.detail if platform else {}),
                     **_check(values.get("detail", {}), _DETAIL, f"{key}.detail", path)}
    if detail_values:
        values["detail"] = DetailRule(**compile_selectors(detail_values, f"{key}.detail", path))
    return Source(**values)


def _check(raw: Any, schema: _Schema, key: str, path: Path) -> dict[str, Any]:
    prefix = f"{key}." if key else ""
    if not isinstance(raw, dict):
        raise ConfigError(path, key, "must be a table")
    for name in raw:
        if name not in schema:
            raise ConfigError(path, prefix + name, f"unknown key (expected one of: {', '.join(schema)})")
    for name, (kind, required) in schema.items():
        if name not in raw:
            if required:
                raise ConfigError(path, prefix + name, "required key is missing")
            continue
        value = raw[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            expected = " or ".join(k.__name__ for k in kinds)
            raise ConfigError(path, prefix + name, f"expected {expected}, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):  # TOML has nan and inf; no setting means them
            raise ConfigError(path, prefix + name, f"must be a finite number, not {value}")
        if isinstance(value, str) and required and not value.strip():
            raise ConfigError(path, prefix + name, "must not be empty")
    return dict(raw)


def compile_selectors(values: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    """Compile every selector once so a typo fails at load time, not mid-crawl.

    A list whose ``item`` is a JSON path (``json:data.list``) is read as JSON, so its link, title and
    date must be JSON paths too: an HTML selector there would silently find nothing.
    """
    probe = parsel.Selector(text="<html><body></body></html>")
    is_json = values["item"].startswith(JSON_PREFIX) if "item" in values else False
    if is_json:
        values.setdefault("link", "")
        if "next_page" in values:
            raise ConfigError(path, f"{key}.next_page", "a JSON list pages through a spider, not next_page")
    for name, value in values.items():
        if name not in _SELECTOR_KEYS:
            continue
        if is_json and name in ("link", "title", "date") and not value.startswith(JSON_PREFIX):
            raise ConfigError(path, f"{key}.{name}",
                              f"the items are JSON (item = {values['item']!r}): give a JSON path like 'json:url'")
        try:
            if value.startswith(JSON_PREFIX):
                if not (is_json and name in ("item", "link", "title", "date")) or not json_paths(value):
                    raise ValueError("a JSON path is json:key.key, alternatives split by |, in a JSON list only")
            else:
                select(probe, value)
        except (SelectorError, XPathError, ValueError) as e:
            raise ConfigError(path, f"{key}.{name}", f"invalid selector {value!r}: {e}") from None
    return values


@functools.cache
def json_paths(selector: str) -> tuple[tuple[str, ...], ...]:
    """``json:a.b|c`` → ``(("a", "b"), ("c",))``: alternatives, each a path of keys; () if malformed.

    ``$`` stands for the document itself (``json:$`` is a top-level array). Cached: a list reads every
    entry's fields with the same few paths."""
    alternatives = tuple(tuple(alt.strip().split(".")) for alt in selector.removeprefix(JSON_PREFIX).split("|"))
    if not all(re.fullmatch(r"[\w$-]+", part) for alt in alternatives for part in alt):
        return ()
    return alternatives


def select(node: parsel.Selector | parsel.SelectorList, selector: str) -> parsel.SelectorList:
    """Apply a config selector: CSS by default, XPath when it starts with ``xpath:``."""
    if selector.startswith("xpath:"):
        return node.xpath(selector[len("xpath:") :])
    return node.css(selector)
