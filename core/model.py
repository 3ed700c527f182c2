"""Plain dataclasses passed between the stages: crawl → store → detect → digest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# What a 规范性文件 / 政府信息公开 page's metadata table gives: 索引号, 成文日期, 主题分类.
METADATA_TABLE = ("index_number", "written", "subject")

# The warning of a [sources.detail] selector that matched nothing on a page (policywatch.crawler.extract.detail). A
# fetch row keeps a page's warnings joined by "; ", which this text holds too, so they are told apart by its form.
SELECTOR_MISSED = "[sources.detail] {field} {selector!r} matched nothing; found automatically"
_SELECTOR_MISSED = re.compile(r"\[sources\.detail\] \w+ (?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") matched nothing; "
                              r"found automatically")


# The warning of a list page listing more items than it may cause requests (policywatch.crawler.spiders.base).
ITEMS_CAPPED = "{listed} items listed; only the first {cap} followed ([crawl] max_items_per_page)"
_ITEMS_CAPPED = re.escape(ITEMS_CAPPED).replace(re.escape("{listed}"), r"\d+").replace(re.escape("{cap}"), r"\d+")
_REPORTED = re.compile(f"{_SELECTOR_MISSED.pattern}|{_ITEMS_CAPPED}")


def reported_warnings(warning: str | None) -> list[str]:
    """The warnings a crawl reports (:data:`SELECTOR_MISSED`, :data:`ITEMS_CAPPED`) among a fetch row's joined
    warnings, each once."""
    return list(dict.fromkeys(_REPORTED.findall(warning or "")))


@dataclass
class Fetch:
    """One request's outcome, whatever it was: every request gets a row in ``fetches``.

    ``error`` is a one-line reason when the request produced nothing storable
    (timeout, HTTP 500, size cap, anti-bot wall, no policy text); ``status`` is
    None when no HTTP response arrived at all.
    """

    source: str
    url: str
    kind: str  # "list" or "detail"
    fetched_at: str
    status: int | None = None
    bytes: int = 0
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    items: int | None = None  # list pages: how many items the list selector found
    warning: str | None = None  # what extraction could not do as configured ("[sources.detail] body … matched nothing")


@dataclass
class Snapshot:
    """What one successful detail fetch extracted: a candidate new version of a document."""

    fetch: Fetch
    canonical_url: str
    title: str
    text: str
    published: str | None = None  # ISO date
    authority: str | None = None
    doc_number: str | None = None
    attachments: list[str] = field(default_factory=list)
    encoding: str | None = None
    index_number: str | None = None  # 索引号
    written: str | None = None  # 成文日期, ISO date
    subject: str | None = None  # 主题分类


@dataclass
class AttachmentFile:
    """One downloaded attachment (PDF, Word, Excel …) of a document, hashed and read."""

    fetch: Fetch
    document_url: str
    kind: str
    sha256: str
    size: int
    text: str | None = None  # None where the format has no text extractor
    error: str | None = None  # why the text could not be read (encrypted, corrupt …)


@dataclass(frozen=True)
class FileState:
    """What change detection compares between two downloads of one attachment."""

    sha256: str
    text_hash: str | None  # fingerprint of the normalised text; None where none was read
    error: str | None  # why the file could not be read; None when fine


@dataclass(frozen=True)
class SaveResult:
    """What storing a snapshot did, for progress and run summaries."""

    document_id: int
    new_document: bool
    new_version: bool


@dataclass(frozen=True)
class Version:
    """What makes two versions different: the normalised text's hash and the metadata."""

    text_hash: str
    title: str | None = None
    published: str | None = None
    authority: str | None = None
    doc_number: str | None = None
    attachments: str = "[]"  # JSON list, in page order
    index_number: str | None = None
    written: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class DocState:
    """A stored document as change detection sees it."""

    latest: Version | None
    status: str = "active"  # "active" or "removed"
    missing: int = 0  # consecutive checks that found the page gone


@dataclass(frozen=True)
class Verdict:
    """What one check of a document means, decided by ``policywatch.detection.detect.detect``."""

    kind: str | None  # "new", "changed", "removed", "restored" or None
    status: str
    missing: int
    new_version: bool = False
    fields: tuple[str, ...] = ()  # what differs from the previous version: text, title, …


@dataclass(frozen=True)
class Likeness:
    """What duplicate grouping keeps per document (see ``policywatch.detection.duplicates``)."""

    title_key: str | None
    signature: bytes  # MinHash values, uint32
    bands: tuple[int, ...]  # one bucket id per LSH band, for the candidate lookup
    size: int  # number of distinct shingles


@dataclass(frozen=True)
class Candidate:
    """A stored document that might be the same policy as a new one."""

    document_id: int
    group_id: int
    title_key: str | None
    signature: bytes
    size: int


@dataclass(frozen=True)
class NewSubscriber:
    """A validated subscriber to add: normalised address, and (digest, topics, regions) per subscription.

    Topics and regions override the digest's own; an empty tuple keeps the digest's.
    """

    email: str
    name: str | None = None
    language: str | None = None
    subscriptions: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()
