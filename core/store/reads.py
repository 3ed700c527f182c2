"""The reports' reads of documents, versions, texts and changes: for the CLI, the digests and the archive site.

Nothing here writes. These queries are kept apart from the crawl's (``policywatch.core.store.documents``) because
they serve other readers and change for other reasons: a new digest section or archive page adds a query here.
"""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING, Any

from policywatch.core.store.rows import Rows

if TYPE_CHECKING:
    from collections.abc import Iterable


def _request_url(url: str) -> str | None:
    """``url`` percent-encoded as a request sends it (w3lib, as Scrapy does), or None when it is no URL at all
    (a port out of range, a broken IPv6 host)."""
    from w3lib.url import safe_url_string

    try:
        return safe_url_string(url)
    except ValueError:
        return None


class Reads(Rows):
    """Documents, their versions, texts and changes as the reports show them."""

    # -- reads for the CLI ------------------------------------------------

    def document(self, url_or_id: str) -> dict[str, Any] | None:
        """A document with its latest version's text, found by id, canonical or fetched URL. A URL as a browser
        shows it (2023/关于….html) also finds the document stored under it percent-encoded, as Scrapy requests it."""
        if url_or_id.isdigit():
            rows = self.db.query("SELECT * FROM documents WHERE id = ?", [int(url_or_id)])
            doc = next(iter(rows), None)
        else:
            doc = self._find_document(url_or_id, url_or_id)
            encoded = _request_url(url_or_id)
            if doc is None and encoded is not None and encoded != url_or_id:
                doc = self._find_document(encoded, encoded)
        if doc is None:
            return None
        version = self._version(doc["latest_version"])
        doc["attachments"] = json.loads(doc["attachments"] or "[]")
        doc["text"] = self.text(version["text_hash"]) if version else ""
        doc["versions"] = self.db.execute(
            "SELECT count(*) FROM versions WHERE document_id = ?", [doc["id"]]
        ).fetchone()[0]
        return doc

    def documents(self, source: str | None = None) -> list[dict[str, Any]]:
        """Every document (of one source), newest publish date first, with its version count."""
        sql = """SELECT d.id, d.source, d.url, d.title, d.published, d.authority, d.doc_number,
                        d.last_status, (SELECT count(*) FROM versions v WHERE v.document_id = d.id)
                        AS versions
                   FROM documents d WHERE :source IS NULL OR d.source = :source
                  ORDER BY d.published DESC NULLS LAST, d.id"""
        return list(self.db.query(sql, {"source": source}))

    def run_activity(self, run_id: int) -> list[dict[str, Any]]:
        """What one run found: its change records, then the requests that failed."""
        sql = """
            SELECT c.kind AS what, d.source, d.url, d.title,
                   CASE WHEN c.fields != '' THEN 'changed: ' || c.fields END AS detail
              FROM changes c JOIN documents d ON d.id = c.document_id WHERE c.run_id = :run
            UNION ALL
            SELECT 'failed', f.source, f.url, d.title, f.error
              FROM fetches f LEFT JOIN documents d ON d.id = f.document_id
             WHERE f.run_id = :run AND f.error IS NOT NULL
        """
        return list(self.db.query(sql, {"run": run_id}))

    def changes(
        self, since: str | None = None, until: str | None = None, source: str | None = None,
        kind: str | None = None,
    ) -> list[dict[str, Any]]:
        """Change records, oldest first, with their document; ``until`` is exclusive."""
        sql = """
            SELECT c.id, c.kind, c.fields, c.detected_at, c.added, c.removed, c.from_version,
                   c.to_version, d.id AS document_id, d.url, d.title, d.published, d.source, d.authority,
                   coalesce(d.group_id, d.id) AS "group"
              FROM changes c JOIN documents d ON d.id = c.document_id
             WHERE (:since IS NULL OR c.detected_at >= :since)
               AND (:until IS NULL OR c.detected_at < :until)
               AND (:source IS NULL OR d.source = :source) AND (:kind IS NULL OR c.kind = :kind)
             ORDER BY c.detected_at, c.id
        """
        return list(self.db.query(sql, {"since": since, "until": until, "source": source, "kind": kind}))

    # -- reads for digests --------------------------------------------------

    def documents_published(
        self, start: str, end: str, seen_since: str | None = None, seen_until: str | None = None,
    ) -> list[dict[str, Any]]:
        """Active documents published in [start, end) (ISO dates), and those whose page gave no publish date first
        seen in [seen_since, seen_until) (UTC timestamps: the same days' bounds in the reader's time zone; by
        default the days' bounds in UTC)."""
        seen_since = seen_since or f"{start}T00:00:00+00:00"
        seen_until = seen_until or f"{end}T00:00:00+00:00"
        sql = """
            SELECT d.id, d.url, d.source, d.title, d.published, d.authority, d.doc_number, d.first_seen,
                   coalesce(d.group_id, d.id) AS "group", v.text_hash
              FROM documents d JOIN versions v ON v.id = d.latest_version
             WHERE d.status = 'active'
               AND (d.published >= :start AND d.published < :end
                    OR d.published IS NULL AND d.first_seen >= :seen_since AND d.first_seen < :seen_until)
        """
        return list(self.db.query(sql, {"start": start, "end": end, "seen_since": seen_since,
                                        "seen_until": seen_until}))

    def changes_detected(self, start: str, end: str) -> list[dict[str, Any]]:
        """Changed, restored and removed records detected in [start, end) (UTC timestamps), oldest first, with their
        document."""
        sql = """
            SELECT c.kind, c.fields, c.from_version, c.to_version, c.detected_at, c.from_text, c.to_text,
                   d.id, d.url, d.source, d.title, d.published, d.authority, d.doc_number, d.first_seen,
                   coalesce(d.group_id, d.id) AS "group", v.text_hash
              FROM changes c JOIN documents d ON d.id = c.document_id
              LEFT JOIN versions v ON v.id = d.latest_version
             WHERE c.detected_at >= :start AND c.detected_at < :end
               AND c.kind IN ('changed', 'restored', 'removed')
             ORDER BY c.id
        """
        return list(self.db.query(sql, {"start": start, "end": end}))

    def texts(self, hashes: Iterable[str]) -> dict[str, str]:
        """Many texts at once, by fingerprint."""
        rows = self._where_in("SELECT hash, body FROM texts WHERE hash IN ({})", hashes)
        return {h: zlib.decompress(body).decode("utf-8") for h, body in rows}

    def version_hashes(self, version_ids: Iterable[int]) -> dict[int, str]:
        """The text fingerprint of each version."""
        return dict(self._where_in("SELECT id, text_hash FROM versions WHERE id IN ({})", version_ids))

    def history(self, document_id: int) -> list[dict[str, Any]]:
        """Every version of a document, oldest first, with its size and the change that made it."""
        sql = f"""
            SELECT v.id, v.created_at, v.title, v.published, t.size,
                   (SELECT {self.dialect.joined("c.kind")} FROM changes c WHERE c.to_version = v.id) AS change
              FROM versions v JOIN texts t ON t.hash = v.text_hash
             WHERE v.document_id = ? ORDER BY v.id
        """
        return list(self.db.query(sql, [document_id]))

    def version_text(self, version_id: int) -> str:
        version = self._version(version_id)
        return self.text(version["text_hash"]) if version else ""

    def text(self, text_hash: str) -> str:
        row = self.db.execute("SELECT body FROM texts WHERE hash = ?", [text_hash]).fetchone()
        return zlib.decompress(row[0]).decode("utf-8") if row else ""

    def count(self, table: str) -> int:
        return self.db[table].count

    def attachment_changes(self, document_id: int) -> list[dict[str, Any]]:
        """A document's attachment changes, oldest first, with the texts before and after."""
        sql = """SELECT id, detected_at, attachment_url, from_text, to_text FROM changes
                  WHERE document_id = ? AND attachment_url IS NOT NULL ORDER BY id"""
        return list(self.db.query(sql, [document_id]))

    # -- reads for the archive site ----------------------------------------------

    def archive_documents(self) -> list[dict[str, Any]]:
        """Every document with what its archive page shows and its latest text's fingerprint, by id."""
        sql = """
            SELECT d.id, d.url, d.source, d.title, d.published, d.authority, d.doc_number, d.index_number,
                   d.written, d.subject, d.attachments, d.first_seen, d.status,
                   coalesce(d.group_id, d.id) AS "group", v.text_hash
              FROM documents d LEFT JOIN versions v ON v.id = d.latest_version ORDER BY d.id
        """
        return list(self.db.query(sql))

    def archive_versions(self) -> list[dict[str, Any]]:
        """Every version, by document then age."""
        sql = """SELECT id, document_id, text_hash, title, published, authority, doc_number, index_number, written,
                        subject, attachments, created_at FROM versions ORDER BY document_id, id"""
        return list(self.db.query(sql))

    def archive_changes(self) -> list[dict[str, Any]]:
        """Every change record, oldest first."""
        sql = """SELECT id, document_id, kind, fields, from_version, to_version, detected_at, added, removed,
                        attachment_url, from_text, to_text FROM changes ORDER BY id"""
        return list(self.db.query(sql))

    def archive_attachments(self) -> list[dict[str, Any]]:
        """Every downloaded attachment (without its fetch bookkeeping), by document."""
        sql = "SELECT url, document_id, kind, size, error FROM attachments ORDER BY document_id, url"
        return list(self.db.query(sql))
