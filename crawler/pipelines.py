"""StorePipeline: every item a spider yields goes into state.db, a few per transaction, each all or nothing."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from policywatch.core.minhash import likeness
from policywatch.core.model import AttachmentFile, Fetch, FileState, SaveResult, Snapshot, Verdict, Version
from policywatch.core.normalize import fingerprint
from policywatch.core.store import Store
from policywatch.crawler.batch import WriteBatch
from policywatch.crawler.spiders.base import REDIRECTED_AWAY
from policywatch.detection.detect import detect, detect_attachment, keeps_previous_file
from policywatch.detection.diff import diff
from policywatch.detection.duplicates import choose_group

GONE_STATUSES = (404, 410)
# Set when the process that started this crawl and reads its events is gone (see emit and policywatch.crawler.run).
PARENT_GONE = threading.Event()
logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class StorePipeline:
    """Writes snapshots and fetch records; prints one JSON event line per item when asked.

    Items are stored through the process's ``WriteBatch`` (policywatch.crawler.batch): up to ``PW_STORE_BATCH`` items
    (20) in one transaction, none held longer than ``PW_STORE_BATCH_SECONDS`` (0.5 s), each all or nothing.

    The events (``PW_EVENTS``) are how ``policywatch crawl`` shows progress
    from the crawl subprocess without sharing anything but a pipe.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.run_id = settings.getint("PW_RUN_ID")
        self.events = settings.get("PW_EVENTS")  # True: JSON lines on stdout; a function: called with each
        self.duplicate_threshold = settings.getfloat("PW_DUPLICATE_THRESHOLD", 0.8)
        self.batch = WriteBatch.join(settings.get("PW_DB"), settings.getint("PW_STORE_BATCH", 20),
                                     settings.getfloat("PW_STORE_BATCH_SECONDS", 0.5))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def close_spider(self) -> None:
        self.batch.leave()

    def process_item(self, item: Any) -> Any:
        if isinstance(item, (Snapshot, AttachmentFile, Fetch)):
            self.batch.add(self, item)
        return item

    def write(self, store: Store, item: Snapshot | AttachmentFile | Fetch) -> dict[str, Any]:
        """Store one item (in the batch's transaction); its progress event."""
        if isinstance(item, Snapshot):
            result, verdict = store_snapshot(store, self.run_id, item, self._next_check(), self.duplicate_threshold)
            fetch = item.fetch
            event = {"new_document": result.new_document, "new_version": result.new_version,
                     "change": verdict.kind}
        elif isinstance(item, AttachmentFile):
            found = store_attachment(store, self.run_id, item)
            fetch, event = item.fetch, {"change": found.kind if found else None}
        else:
            # A 304 answered the re-check; anything else leaves the document due.
            next_check = self._next_check() if item.status == 304 else None
            found = store_fetch(store, self.run_id, item, next_check)
            fetch, event = item, {"change": found.kind if found else None}
        # "queued": the pages and files the spider has asked for so far, which sizes the crawl for its progress
        # display (policywatch.progress).
        return event | {"event": "fetch", "source": fetch.source, "kind": fetch.kind,
                        "url": fetch.url, "status": fetch.status, "error": fetch.error,
                        "queued": len(getattr(self.crawler.spider, "scheduled", ()))}

    def emit(self, event: dict[str, Any]) -> None:
        if self.events:
            self.events(event) if callable(self.events) else emit(event)

    def failed(self, item: Snapshot | AttachmentFile | Fetch, error: Exception) -> None:
        """An item that could not be stored: logged, and signalled as Scrapy signals a pipeline's error (a
        programming error stops the crawl: policywatch.crawler.run's Shutdown listens)."""
        from scrapy import signals
        from twisted.python.failure import Failure

        url = item.url if isinstance(item, Fetch) else item.fetch.url
        logger.error("could not store %s: %s: %s", url, type(error).__name__, error,
                     exc_info=(type(error), error, error.__traceback__))
        self.crawler.signals.send_catch_log(signals.item_error, item=item, response=None,
                                            spider=self.crawler.spider, failure=Failure(error))

    def _next_check(self) -> str:
        days = self.crawler.spider.source.recheck_days
        if days is None:
            days = self.crawler.settings.getfloat("PW_RECHECK_DAYS")
        return (datetime.now(UTC) + timedelta(days=days)).isoformat(timespec="seconds")


def store_snapshot(
    store: Store, run_id: int, snapshot: Snapshot, next_check: str, duplicate_threshold: float = 0.8
) -> tuple[SaveResult, Verdict]:
    """Observe → detect → group → store for one extracted page: the crawl's whole write path."""
    version = version_of(snapshot)
    state = store.document_state(snapshot.canonical_url, snapshot.fetch.url, snapshot.fetch.source)
    verdict = detect(state, version)
    stats = None
    if state is not None and state.latest is not None and "text" in verdict.fields:
        stats = diff_stats(store.text(state.latest.text_hash), snapshot.text)
    # The duplicate signature is of the title and text: a version that only learned metadata keeps its group.
    regroup = verdict.new_version and (state is None or state.latest is None or (
        state.latest.text_hash, state.latest.title) != (version.text_hash, version.title))
    mine = likeness(snapshot.title, snapshot.text) if regroup else None
    # Candidates are looked up under the write lock: a repost stored by a parallel crawl process a moment
    # earlier is then always seen, so two reposts never both start a group of their own.
    with store.transaction():
        grouping = None
        if mine is not None:
            candidates = store.duplicate_candidates(mine, snapshot.canonical_url)
            grouping = (mine, choose_group(mine, candidates, duplicate_threshold))
        result = store.save_snapshot(run_id, snapshot, version, verdict, next_check, stats, grouping)
    return result, verdict


def store_fetch(store: Store, run_id: int, fetch: Fetch, next_check: str | None = None) -> Verdict | None:
    """Log a fetch without a snapshot: a gone page moves towards removal; a 304 says the
    latest version is still there (which ends a missing streak, or restores a removed page)."""
    verdict = None
    if fetch.kind == "detail" and (fetch.status == 304 or is_gone(fetch)):
        state = store.document_state(fetch.url, fetch.url)
        if state is not None:
            verdict = detect(state, state.latest if fetch.status == 304 else None)
    store.record_fetch(run_id, fetch, next_check, verdict)
    return verdict


def store_attachment(store: Store, run_id: int, item: AttachmentFile) -> Verdict | None:
    """Store a downloaded attachment; new words behind a known URL are a change of its document."""
    row = store.attachment(item.fetch.url)
    previous = FileState(row["sha256"], row["text_hash"], row["error"]) if row else None
    current = FileState(item.sha256, fingerprint(item.text) if item.text else None, item.error)
    state = store.document_state(item.document_url, item.document_url)
    verdict = detect_attachment(previous, current, state) if state is not None else None
    stats = None
    if verdict is not None and previous.text_hash and item.text:
        stats = diff_stats(store.text(previous.text_hash), item.text)
    store.save_attachment(run_id, item, current.text_hash, verdict, stats, previous.text_hash if previous else None,
                          keep_stored=keeps_previous_file(previous, current))
    return verdict


def diff_stats(old: str, new: str) -> tuple[int, int]:
    """(characters added, characters removed) between two texts, word-level."""
    changes = diff(old, new)
    return changes.added, changes.removed


def version_of(snapshot: Snapshot) -> Version:
    """The identity of what a snapshot saw: normalised-text hash plus metadata."""
    return Version(
        text_hash=fingerprint(snapshot.text), title=snapshot.title, published=snapshot.published,
        authority=snapshot.authority, doc_number=snapshot.doc_number,
        attachments=json.dumps(snapshot.attachments, ensure_ascii=False),
        index_number=snapshot.index_number, written=snapshot.written, subject=snapshot.subject,
    )


def is_gone(fetch: Fetch) -> bool:
    """Does this answer say the page no longer exists (404/410, or a redirect to another page)?"""
    return fetch.status in GONE_STATUSES or (fetch.error or "").startswith(REDIRECTED_AWAY)


def emit(event: dict[str, Any]) -> None:
    """One event line on stdout, in a single write: the crawl processes share one pipe, and a line written in one
    piece (under the pipe's 4 KB) never interleaves with another process's. ``print`` would not do: on an
    unbuffered stdout (PYTHONUNBUFFERED) it writes the line and its newline separately.

    A broken pipe means the reader, the parent ``policywatch crawl``, is gone: events stop, stdout goes to
    /dev/null (nothing complains about it at exit), and ``PARENT_GONE`` tells policywatch.crawler.run to wind the crawl
    down.
    """
    if PARENT_GONE.is_set():
        return
    try:
        sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        PARENT_GONE.set()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
