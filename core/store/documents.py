"""What a crawl reads and writes about documents: which to re-check, and each fetch's document, text, version,
change, attachment and fetch row.

A crawl's worker processes spend nearly all their database time here, so each fetch is written in one
transaction through the plain-SQL row helpers of ``policywatch.core.store.rows``. The reports' reads of the same
tables are in ``policywatch.core.store.reads``.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from policywatch.core.model import AttachmentFile, Candidate, DocState, SaveResult, Version
from policywatch.core.store.rows import Rows

if TYPE_CHECKING:
    import sqlite3

    from policywatch.core.model import Fetch, Likeness, Snapshot, Verdict


@dataclass(frozen=True)
class DocRef:
    """What a crawl needs to know about a stored document to re-check it politely."""

    id: int
    url: str
    fetch_url: str
    etag: str | None
    last_modified: str | None
    due: bool
    attachments: tuple[str, ...] = ()  # the files its latest version lists (for a due document), to fetch on a 304


# Failed attachment fetches worth no retry before the page's own re-check: the answer will not change by itself (see
# policywatch.crawler.spiders.base.describe_failure and policywatch.crawler.guard for the reasons). Timeouts, dropped
# connections, HTTP 5xx, anti-bot walls and rate limits are retried at the next crawl.
_SETTLED_FAILURE = """(f.status BETWEEN 400 AND 499 AND f.status NOT IN (408, 412, 425, 429))
    OR f.error LIKE 'file larger than the size cap%' OR f.error = 'forbidden by robots.txt'
    OR f.error = 'too many redirects (redirect loop)' OR f.error LIKE 'refused: %'
    OR f.error LIKE 'redirected off the source''s hosts%' OR f.error LIKE 'not a file: %'"""


def _listed(attachments: str | None) -> tuple[str, ...]:
    """The attachment URLs of a stored ``attachments`` column (a JSON list of URLs)."""
    try:
        value = json.loads(attachments or "[]")
    except ValueError:
        return ()
    return tuple(url for url in value if isinstance(url, str)) if isinstance(value, list) else ()


class Documents(Rows):
    """The crawl's side of ``documents``, ``texts``, ``versions``, ``changes``, ``attachments``, ``doc_bands`` and
    ``fetches``."""

    # -- what to crawl ----------------------------------------------------

    def document_refs(
        self, source: str, now: str, recheck_all: bool = False, max_attachments: int = 50
    ) -> list[DocRef]:
        """Every stored document of a source, each marked due for a re-check or not.

        A document is due when its re-check time has come, and also while a file its latest version lists is not
        stored: a crawl cut short between storing a page and its files, or a download that failed for a reason
        that may pass (a timeout, HTTP 5xx), is made good at the next crawl rather than at the page's next
        re-check. Only the first ``max_attachments`` files count (``[crawl] max_attachments_per_page``: the
        others are never fetched), and a file whose last fetch failed for good (HTTP 404, over the size cap,
        refused) does not count.
        """
        sql = f"""
            SELECT d.id, d.url, d.fetch_url, d.etag, d.last_modified, d.next_check, d.attachments,
                   EXISTS (SELECT 1 FROM {self.dialect.text_list("d.attachments")} j
                            WHERE j.key < :cap AND j.type = 'text'
                              AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.url = j.value)
                              AND NOT coalesce((SELECT {_SETTLED_FAILURE} FROM fetches f
                                                 WHERE f.url = j.value AND f.kind = 'attachment'
                                                 ORDER BY f.id DESC LIMIT 1), false)) AS incomplete
              FROM documents d WHERE d.source = :source"""
        refs = []
        for row in self.db.execute(sql, {"source": source, "cap": max_attachments}).fetchall():
            doc_id, url, fetch_url, etag, last_modified, next_check, listed, incomplete = row
            due = recheck_all or next_check is None or next_check <= now or bool(incomplete)
            files = _listed(listed)[:max_attachments] if due else ()
            refs.append(DocRef(doc_id, url, fetch_url, etag, last_modified, due, files))
        return refs

    def due_counts(self, sources: list[str], now: str) -> dict[str, tuple[int, int]]:
        """Per source with stored documents: how many it has, and how many are due for a re-check at ``now``
        (what sizes a crawl before it starts; files still missing are not counted)."""
        marks = ", ".join("?" * len(sources))
        sql = f"""SELECT source, count(*),
                         sum(CASE WHEN next_check IS NULL OR next_check <= ? THEN 1 ELSE 0 END)
                    FROM documents WHERE source IN ({marks}) GROUP BY source"""
        return {row[0]: (row[1], row[2]) for row in self.db.execute(sql, [now, *sources]).fetchall()}

    # -- writes from a crawl ----------------------------------------------

    def document_state(self, url: str, fetch_url: str, source: str | None = None) -> DocState | None:
        """A stored document's latest version, status and missing streak, or None if unknown.

        ``source``: the document a snapshot of that source would be saved into (``_snapshot_document``)."""
        doc = self._find_document(url, fetch_url) if source is None else self._snapshot_document(
            url, fetch_url, source)[0]
        if doc is None:
            return None
        version = self._version(doc["latest_version"])
        latest = Version(**{k: version[k] for k in Version.__dataclass_fields__}) if version else None
        return DocState(latest, doc["status"], doc["missing"])

    def duplicate_candidates(self, likeness: Likeness, url: str) -> list[Candidate]:
        """Stored documents (other than ``url``'s) sharing the title key or an LSH band."""
        bands = " OR ".join("(b.band = ? AND b.bucket = ?)" for _ in likeness.bands)
        params: list[Any] = [v for pair in enumerate(likeness.bands) for v in pair]
        sql = f"""
            SELECT d.id, coalesce(d.group_id, d.id), d.title_key, d.likeness, d.shingles FROM documents d
             WHERE d.url != ? AND d.fetch_url != ? AND d.likeness IS NOT NULL
               AND (d.title_key = ? OR d.id IN (SELECT b.document_id FROM doc_bands b WHERE {bands}))
             ORDER BY d.id
        """
        rows = self.db.execute(sql, [url, url, likeness.title_key, *params]).fetchall()
        return [Candidate(*row) for row in rows]

    def save_snapshot(
        self, run_id: int, snapshot: Snapshot, version: Version, verdict: Verdict, next_check: str,
        diff_stats: tuple[int, int] | None = None, grouping: tuple[Likeness, int | None] | None = None,
    ) -> SaveResult:
        """Store one detail fetch as ``verdict`` decided: document, text, version, change, fetch row.

        All in one transaction: after a crash the database holds all of it or none.
        ``diff_stats`` is (chars added, chars removed) for a change of the text;
        ``grouping`` the document's likeness and the duplicate group it joins
        (None: it starts its own).
        """
        fetch = snapshot.fetch
        meta = {k: getattr(version, k) for k in Version.__dataclass_fields__ if k != "text_hash"}
        with self.transaction():
            doc, url = self._snapshot_document(snapshot.canonical_url, fetch.url, fetch.source)
            new = doc is None
            if new:
                doc = self._new_document(url, fetch, run_id)
            self._put_text(version.text_hash, snapshot.text)
            update = {
                "fetch_url": fetch.url, "last_checked": fetch.fetched_at, "next_check": next_check,
                "last_status": fetch.status, "etag": fetch.etag, "last_modified": fetch.last_modified,
                "status": verdict.status, "missing": verdict.missing, **meta,
            }
            if verdict.new_version:
                update["latest_version"] = self._insert("versions", {
                    "document_id": doc["id"], "text_hash": version.text_hash, "created_at": fetch.fetched_at,
                    "run_id": run_id, **meta})
            if grouping is not None:
                likeness, group_id = grouping
                update |= {"title_key": likeness.title_key, "likeness": likeness.signature,
                           "shingles": likeness.size, "group_id": group_id or doc["id"]}
                replace_bands(self.db.conn, doc["id"], likeness.bands, stored=not new)
            self._update("documents", doc["id"], update)
            self._insert_change(run_id, doc, verdict, fetch.fetched_at,
                                update.get("latest_version", doc["latest_version"]), diff_stats)
            self._insert_fetch(run_id, fetch, doc["id"])
        return SaveResult(doc["id"], verdict.kind == "new", verdict.new_version)

    def record_fetch(
        self, run_id: int, fetch: Fetch, next_check: str | None = None, verdict: Verdict | None = None
    ) -> None:
        """Log a request that stored no snapshot; a detail re-check also touches its document.

        ``next_check`` moves the document's next re-check (a 304 Not Modified
        answered it); errors leave it due, so the next crawl tries again.
        ``verdict`` records what a "page gone" answer meant (a removal, once confirmed).
        """
        with self.transaction():
            doc = self._find_document(fetch.url, fetch.url) if fetch.kind == "detail" else None
            if doc is not None:
                update: dict[str, Any] = {"last_checked": fetch.fetched_at, "last_status": fetch.status}
                if next_check is not None:
                    update["next_check"] = next_check
                if verdict is not None:
                    update |= {"status": verdict.status, "missing": verdict.missing}
                    self._insert_change(run_id, doc, verdict, fetch.fetched_at, None, None)
                self._update("documents", doc["id"], update)
            self._insert_fetch(run_id, fetch, doc["id"] if doc else None)

    def attachment_refs(self, source: str) -> dict[str, tuple[str | None, str | None, str]]:
        """Every stored attachment of a source: URL → (ETag, Last-Modified, its document's URL)."""
        sql = """SELECT a.url, a.etag, a.last_modified, d.url FROM attachments a
                   JOIN documents d ON d.id = a.document_id WHERE d.source = ?"""
        return {row[0]: row[1:] for row in self.db.execute(sql, [source]).fetchall()}

    def attachment(self, url: str) -> dict[str, Any] | None:
        return self._first("SELECT * FROM attachments WHERE url = ?", [url])

    def save_attachment(
        self, run_id: int, item: AttachmentFile, text_hash: str | None, verdict: Verdict | None,
        diff_stats: tuple[int, int] | None = None, previous_text_hash: str | None = None, keep_stored: bool = False,
    ) -> None:
        """Store a downloaded attachment, its text, the change it makes (if any) and its fetch row.

        ``previous_text_hash`` is the text the attachment had before, for a change's "from" side.
        ``keep_stored`` logs only the fetch, leaving the stored file as it was (see ``keeps_previous_file``).
        """
        fetch = item.fetch
        with self.transaction():
            doc = self._find_document(item.document_url, item.document_url)
            if doc is None:  # its page failed after all: keep the fetch, nothing to attach to
                self._insert_fetch(run_id, fetch, None)
                return
            if keep_stored:
                self._insert_fetch(run_id, fetch, doc["id"])
                return
            if text_hash is not None and item.text is not None:
                self._put_text(text_hash, item.text)
            self._insert("attachments", {
                "url": fetch.url, "document_id": doc["id"], "kind": item.kind, "sha256": item.sha256,
                "size": item.size, "text_hash": text_hash, "error": item.error, "etag": fetch.etag,
                "last_modified": fetch.last_modified, "fetched_at": fetch.fetched_at,
            }, replace=True)
            if verdict is not None:
                self._insert_change(run_id, doc, verdict, fetch.fetched_at, doc["latest_version"], diff_stats,
                                    {"attachment_url": fetch.url, "to_text": text_hash,
                                     "from_text": previous_text_hash})
            self._insert_fetch(run_id, fetch, doc["id"])

    def _new_document(self, url: str, fetch: Fetch, run_id: int) -> dict[str, Any]:
        """A new document row for ``url``, or the one stored under it meanwhile by a writer that did not take turns
        with this one (writers do take turns, on both databases; the unique URL holds even so)."""
        self.db.execute("INSERT INTO documents (url, fetch_url, source, first_seen, first_run) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (url) DO NOTHING", [url, fetch.url, fetch.source, fetch.fetched_at, run_id])
        row = self._first("SELECT * FROM documents WHERE url = ?", [url])
        assert row is not None  # inserted just now, or by another writer before
        return row

    def _put_text(self, text_hash: str, text: str) -> None:
        """Store a text once by its fingerprint (two processes storing the same one at once store it once).

        zlib's fastest level: on Chinese policy text it takes 0.45 of the size where the default level takes 0.42,
        in 60% of the time, and a crawl compresses every new text it sees."""
        if not self.db.execute("SELECT 1 FROM texts WHERE hash = ?", [text_hash]).fetchone():
            data = text.encode("utf-8")
            self.db.execute("INSERT INTO texts (hash, body, size) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING",
                            [text_hash, zlib.compress(data, 1), len(data)])

    def _insert_change(
        self, run_id: int, doc: dict[str, Any], verdict: Verdict, when: str,
        to_version: int | None, diff_stats: tuple[int, int] | None, extra: dict[str, Any] | None = None,
    ) -> None:
        if verdict.kind is None:
            return
        added, removed = diff_stats or (None, None)
        self._insert("changes", {
            "document_id": doc["id"], "kind": verdict.kind, "fields": ",".join(verdict.fields),
            "from_version": doc["latest_version"], "to_version": to_version, "detected_at": when,
            "run_id": run_id, "added": added, "removed": removed, **(extra or {}),
        })

    def _insert_fetch(self, run_id: int, fetch: Fetch, document_id: int | None) -> None:
        # vars, not asdict: a Fetch holds only plain values, and asdict deep-copies each of them.
        self._insert("fetches", {"run_id": run_id, "document_id": document_id, **vars(fetch)})

    def _snapshot_document(self, url: str, fetch_url: str, source: str) -> tuple[dict[str, Any] | None, str]:
        """(The document a snapshot with canonical ``url`` fetched from ``fetch_url`` goes into, the URL a new one
        is stored under). Another source's document is never taken over by a canonical claim alone: unless the
        page was fetched from that document's own URL, the snapshot is stored under the URL it was fetched by."""
        doc = self._find_document(url, fetch_url)
        if doc is None or doc["source"] == source or fetch_url in (doc["url"], doc["fetch_url"]):
            return doc, url
        return self._find_document(fetch_url, fetch_url), fetch_url


def replace_bands(conn: sqlite3.Connection, document_id: int, bands: tuple[int, ...], stored: bool = True) -> None:
    """A document's LSH band buckets (the duplicate lookup), in place of those it had (``stored=False``: a
    document just created, which has none).

    Shared by a crawl's ``save_snapshot`` and ``m008_likeness_v2`` (schema), which recomputes every signature."""
    if stored:
        conn.execute("DELETE FROM doc_bands WHERE document_id = ?", [document_id])
    conn.executemany("INSERT INTO doc_bands (band, bucket, document_id) VALUES (?, ?, ?)",
                     [(band, bucket, document_id) for band, bucket in enumerate(bands)])
