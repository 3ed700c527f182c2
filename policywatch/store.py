"""state.db: the schema and every SQL statement PolicyWatch runs.

Tables: ``sources`` (configured portals), ``runs`` (one per crawl), ``documents``
(one per canonical URL), ``texts`` (normalised-text content store, zlib,
keyed by fingerprint), ``versions`` (one per distinct text+metadata of a
document) and ``fetches`` (every request, with its outcome); ``changes``,
``attachments`` and ``doc_bands`` for detection; ``subscribers``,
``subscriptions`` and ``deliveries`` (the send log) for mail; ``source_runs``,
``alerts`` and ``job_runs`` for operations. (``scheduler_jobs`` belongs to
APScheduler's job store, which manages it itself; the canned queries ``policywatch browse`` offers live in
datasette.yaml, since Datasette reads them from there.)

Everything a crawl learns about one document is written in one transaction,
and the file runs in WAL mode, so a crawl killed with SIGKILL leaves a
consistent database that the next crawl simply continues.
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from policywatch.model import AttachmentFile, Candidate, DocState, NewSubscriber, SaveResult, Version

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from policywatch.config import Source
    from policywatch.model import Fetch, Likeness, Snapshot, Verdict

migrations = Migrations("policywatch")
BUSY_WAIT = 30.0  # seconds a statement waits for another process's write lock before failing


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["sources"].create(
        {"name": str, "title": str, "region": str, "authority": str, "updated_at": str}, pk="name"
    )
    db["runs"].create(
        {"id": int, "started_at": str, "finished_at": str, "sources": str, "status": str}, pk="id"
    )
    db["documents"].create(
        {
            "id": int, "url": str, "fetch_url": str, "source": str, "title": str,
            "published": str, "authority": str, "doc_number": str, "attachments": str,
            "first_seen": str, "first_run": int, "last_checked": str, "next_check": str,
            "last_status": int, "etag": str, "last_modified": str, "latest_version": int,
        },
        pk="id",
        not_null={"url", "fetch_url", "source"},
    )
    db["documents"].create_index(["url"], unique=True)
    db["documents"].create_index(["fetch_url"])
    db["documents"].create_index(["source", "next_check"])
    db["texts"].create({"hash": str, "body": bytes, "size": int}, pk="hash")
    db["versions"].create(
        {
            "id": int, "document_id": int, "text_hash": str, "title": str, "published": str,
            "authority": str, "doc_number": str, "attachments": str, "created_at": str,
            "run_id": int,
        },
        pk="id",
        foreign_keys=[("document_id", "documents", "id"), ("text_hash", "texts", "hash")],
    )
    db["versions"].create_index(["document_id"])
    db["versions"].create_index(["run_id"])
    db["fetches"].create(
        {
            "id": int, "run_id": int, "source": str, "url": str, "kind": str,
            "fetched_at": str, "status": int, "bytes": int, "error": str, "etag": str,
            "last_modified": str, "items": int, "document_id": int,
        },
        pk="id",
    )
    db["fetches"].create_index(["run_id", "source"])
    db["fetches"].create_index(["url"])


@migrations()
def m002_changes(db: sqlite_utils.Database) -> None:
    db["documents"].add_column("status", str, not_null_default="active")
    db["documents"].add_column("missing", int, not_null_default=0)
    db["changes"].create(
        {
            "id": int, "document_id": int, "kind": str, "fields": str, "from_version": int,
            "to_version": int, "detected_at": str, "run_id": int, "added": int, "removed": int,
        },
        pk="id",
        foreign_keys=[("document_id", "documents", "id")],
    )
    db["changes"].create_index(["detected_at"])
    db["changes"].create_index(["document_id"])


@migrations()
def m003_duplicates(db: sqlite_utils.Database) -> None:
    db["documents"].add_column("title_key", str)
    db["documents"].add_column("likeness", bytes)
    db["documents"].add_column("shingles", int)
    db["documents"].add_column("group_id", int)
    db["documents"].create_index(["title_key"])
    db["documents"].create_index(["group_id"])
    db["doc_bands"].create({"band": int, "bucket": int, "document_id": int}, pk=("band", "bucket", "document_id"))
    db["doc_bands"].create_index(["document_id"])


@migrations()
def m004_attachments(db: sqlite_utils.Database) -> None:
    db["attachments"].create(
        {
            "url": str, "document_id": int, "kind": str, "sha256": str, "size": int, "text_hash": str,
            "error": str, "etag": str, "last_modified": str, "fetched_at": str,
        },
        pk="url",
    )
    db["attachments"].create_index(["document_id"])


@migrations()
def m005_attachment_changes(db: sqlite_utils.Database) -> None:
    # An attachment change names its file and both texts, so its diff can be shown later.
    db["changes"].add_column("attachment_url", str)
    db["changes"].add_column("from_text", str)
    db["changes"].add_column("to_text", str)


@migrations()
def m006_delivery_and_health(db: sqlite_utils.Database) -> None:
    db.execute("""CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT, language TEXT,
        status TEXT NOT NULL DEFAULT 'active', status_reason TEXT, created_at TEXT NOT NULL, updated_at TEXT)""")
    # topics/regions: JSON lists overriding the digest's own; NULL keeps the digest's.
    db.execute("""CREATE TABLE subscriptions (
        subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE, digest TEXT NOT NULL,
        topics TEXT, regions TEXT, PRIMARY KEY (subscriber_id, digest))""")
    # The send log: one row per (digest, period, subscriber), whatever happened to it.
    db.execute("""CREATE TABLE deliveries (
        digest TEXT NOT NULL, period TEXT NOT NULL, subscriber_id INTEGER NOT NULL, email TEXT NOT NULL,
        message_id TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
        updated_at TEXT NOT NULL, PRIMARY KEY (digest, period, subscriber_id))""")
    db["source_runs"].create(
        {"run_id": int, "source": str, "started_at": str, "finished_at": str, "seconds": float, "outcome": str,
         "list_pages": int, "list_errors": int, "list_error": str, "items": int, "pages": int, "errors": int,
         "wall": str},
        pk=("run_id", "source"),
    )
    db["source_runs"].create_index(["source", "run_id"])
    db["alerts"].create(
        {"id": int, "source": str, "problem": str, "opened_at": str, "notified_at": str, "cleared_at": str},
        pk="id",
    )
    db["alerts"].create_index(["source", "cleared_at"])
    db["job_runs"].create(
        {"id": int, "job": str, "started_at": str, "finished_at": str, "outcome": str, "detail": str},
        pk="id",
    )
    db["job_runs"].create_index(["job", "started_at"])


@migrations()
def m007_metadata_table(db: sqlite_utils.Database) -> None:
    # What a 规范性文件 / 政府信息公开 page's metadata table says: 索引号, 成文日期 (ISO), 主题分类.
    # Versions stored before this hold NULL: not recorded, which says nothing about the page.
    for table in ("documents", "versions"):
        for column in ("index_number", "written", "subject"):
            db[table].add_column(column, str)


@migrations()
def m008_likeness_v2(db: sqlite_utils.Database) -> None:
    # Shingles are now hashed with array arithmetic (digest.duplicates); signatures stored with the old
    # per-shingle CRC would never match new ones, so every stored document's is recomputed from its text.
    from digest.duplicates import likeness

    rows = db.execute("""SELECT d.id, d.title, t.body FROM documents d JOIN versions v ON v.id = d.latest_version
                           JOIN texts t ON t.hash = v.text_hash WHERE d.likeness IS NOT NULL""").fetchall()
    for doc_id, title, body in rows:
        mine = likeness(title, zlib.decompress(body).decode("utf-8"))
        db.execute("UPDATE documents SET likeness = ?, shingles = ? WHERE id = ?", [mine.signature, mine.size, doc_id])
        _replace_bands(db.conn, doc_id, mine.bands)


def _replace_bands(conn: sqlite3.Connection, document_id: int, bands: tuple[int, ...]) -> None:
    """A document's LSH band buckets (the duplicate lookup), in place of those it had."""
    conn.execute("DELETE FROM doc_bands WHERE document_id = ?", [document_id])
    conn.executemany("INSERT INTO doc_bands (band, bucket, document_id) VALUES (?, ?, ?)",
                     [(band, bucket, document_id) for band, bucket in enumerate(bands)])


def now_iso() -> str:
    """Timestamps are UTC ISO-8601 strings, so they sort and compare as text."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class DocRef:
    """What a crawl needs to know about a stored document to re-check it politely."""

    id: int
    url: str
    fetch_url: str
    etag: str | None
    last_modified: str | None
    due: bool


class Store:
    """A migrated state.db. Open one per process; it is not shared across threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(self.path)
        self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_WAIT * 1000)}")
        if self.db.journal_mode != "wal":
            self.db.enable_wal()
        # WAL + NORMAL: every committed transaction survives a killed process.
        self.db.execute("PRAGMA synchronous = NORMAL")
        migrations.apply(self.db)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction that takes the write lock up front (BEGIN IMMEDIATE), waiting for it if need be.

        Crawls, the scheduler's job store and mail sends write to state.db at the same time. A transaction
        begun as a reader that then writes fails at once ("database is locked") if another process wrote in
        between; one that starts as a writer simply waits its turn.
        """
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self._begin_immediate()
        try:
            yield
        except BaseException:
            self.db.conn.execute("ROLLBACK")
            raise
        self.db.conn.execute("COMMIT")

    def _begin_immediate(self) -> None:
        """BEGIN IMMEDIATE, retried every fraction of a millisecond while another process holds the write lock.

        SQLite's own busy handler sleeps 1, 2, 5, 10 … ms between tries; parallel crawl processes each
        committing hundreds of short transactions a second would spend much of their time asleep.
        """
        deadline = time.monotonic() + BUSY_WAIT
        pause = 0.0001
        self.db.conn.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    self.db.conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) or time.monotonic() > deadline:
                        raise
                time.sleep(pause)
                pause = min(pause * 2, 0.002)
        finally:
            self.db.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_WAIT * 1000)}")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sources and runs -------------------------------------------------

    def sync_sources(self, sources: Iterable[Source]) -> None:
        """Record the configured sources so the database explains itself."""
        rows = [
            {"name": s.name, "title": s.title, "region": s.region, "authority": s.authority,
             "updated_at": now_iso()}
            for s in sources
        ]
        with self.transaction():
            self.db["sources"].upsert_all(rows, pk="name")

    def start_run(self, sources: Iterable[str]) -> int:
        with self.transaction():
            table = self.db["runs"].insert(
                {"started_at": now_iso(), "sources": json.dumps(list(sources)), "status": "running"}
            )
        return int(table.last_pk)

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        with self.transaction():
            self.db["runs"].update(run_id, {"finished_at": now_iso(), "status": status})

    def run_summary(self, run_id: int) -> list[dict[str, Any]]:
        """Per source: pages fetched, new documents, new versions and errors in one run."""
        sql = """
            SELECT f.source AS source,
                   count(*) AS pages,
                   (SELECT count(*) FROM documents d WHERE d.source = f.source AND d.first_run = :run)
                       AS new_documents,
                   (SELECT count(*) FROM versions v JOIN documents d ON d.id = v.document_id
                     WHERE d.source = f.source AND v.run_id = :run) AS new_versions,
                   sum(f.error IS NOT NULL) AS errors
              FROM fetches f WHERE f.run_id = :run GROUP BY f.source ORDER BY f.source
        """
        return list(self.db.query(sql, {"run": run_id}))

    def run_errors(self, run_id: int) -> list[dict[str, Any]]:
        sql = "SELECT source, url, status, error FROM fetches WHERE run_id = ? AND error IS NOT NULL"
        return list(self.db.query(sql, [run_id]))

    def sources_overview(self) -> list[dict[str, Any]]:
        """Each known source with its document count, last crawl, and health (items, error streak, open alert)."""
        sql = """
            SELECT s.name, s.title, s.region, s.authority,
                   (SELECT count(*) FROM documents d WHERE d.source = s.name) AS documents,
                   (SELECT max(fetched_at) FROM fetches f WHERE f.source = s.name) AS last_crawl,
                   (SELECT max(fetched_at) FROM fetches f
                     WHERE f.source = s.name AND f.error IS NULL) AS last_success,
                   (SELECT items FROM source_runs r WHERE r.source = s.name ORDER BY run_id DESC LIMIT 1)
                       AS last_items,
                   (SELECT count(*) FROM source_runs r WHERE r.source = s.name AND r.run_id > coalesce(
                       (SELECT max(run_id) FROM source_runs k
                         WHERE k.source = s.name AND k.outcome = 'ok' AND k.list_errors = 0), 0)) AS error_streak,
                   (SELECT problem FROM alerts a WHERE a.source = s.name AND a.cleared_at IS NULL
                     ORDER BY id DESC LIMIT 1) AS alert
              FROM sources s ORDER BY s.name
        """
        return list(self.db.query(sql))

    # -- what to crawl ----------------------------------------------------

    def document_refs(self, source: str, now: str, recheck_all: bool = False) -> list[DocRef]:
        """Every stored document of a source, each marked due for a re-check or not."""
        sql = """SELECT id, url, fetch_url, etag, last_modified, next_check
                   FROM documents WHERE source = ?"""
        return [
            DocRef(row["id"], row["url"], row["fetch_url"], row["etag"], row["last_modified"],
                   recheck_all or row["next_check"] is None or row["next_check"] <= now)
            for row in self.db.query(sql, [source])
        ]

    # -- writes from a crawl ----------------------------------------------

    def document_state(self, url: str, fetch_url: str) -> DocState | None:
        """A stored document's latest version, status and missing streak, or None if unknown."""
        doc = self._find_document(url, fetch_url)
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
            doc = self._find_document(snapshot.canonical_url, fetch.url)
            if doc is None:
                doc = {"id": self._insert("documents", {
                    "url": snapshot.canonical_url, "fetch_url": fetch.url, "source": fetch.source,
                    "first_seen": fetch.fetched_at, "first_run": run_id}), "latest_version": None}
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
                _replace_bands(self.db.conn, doc["id"], likeness.bands)
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
        return next(iter(self.db.query("SELECT * FROM attachments WHERE url = ?", [url])), None)

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

    def _put_text(self, text_hash: str, text: str) -> None:
        if not self.db.execute("SELECT 1 FROM texts WHERE hash = ?", [text_hash]).fetchone():
            data = text.encode("utf-8")
            self._insert("texts", {"hash": text_hash, "body": zlib.compress(data, 6), "size": len(data)})

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

    def attachment_changes(self, document_id: int) -> list[dict[str, Any]]:
        """A document's attachment changes, oldest first, with the texts before and after."""
        sql = """SELECT id, detected_at, attachment_url, from_text, to_text FROM changes
                  WHERE document_id = ? AND attachment_url IS NOT NULL ORDER BY id"""
        return list(self.db.query(sql, [document_id]))

    def _insert_fetch(self, run_id: int, fetch: Fetch, document_id: int | None) -> None:
        self._insert("fetches", {"run_id": run_id, "document_id": document_id, **asdict(fetch)})

    def _insert(self, table: str, row: dict[str, Any], replace: bool = False) -> int:
        """INSERT one row (``replace``: in place of the row with its primary key), returning its rowid: the crawl's
        hot path, in plain SQL (sqlite-utils would re-read the table's schema on every call)."""
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        sql = f"{verb} INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
        return int(self.db.conn.execute(sql, list(row.values())).lastrowid)

    def _update(self, table: str, row_id: int, values: dict[str, Any]) -> None:
        """UPDATE one row by id, in plain SQL like ``_insert``."""
        sql = f"UPDATE {table} SET {', '.join(f'{column} = ?' for column in values)} WHERE id = ?"
        self.db.conn.execute(sql, [*values.values(), row_id])

    def _find_document(self, url: str, fetch_url: str) -> dict[str, Any] | None:
        rows = self.db.query(
            "SELECT * FROM documents WHERE url = ? OR fetch_url = ? ORDER BY url = ? DESC LIMIT 1",
            [url, fetch_url, url],
        )
        return next(iter(rows), None)

    def _version(self, version_id: int | None) -> dict[str, Any] | None:
        if version_id is None:
            return None
        return next(iter(self.db.query("SELECT * FROM versions WHERE id = ?", [version_id])), None)

    # -- reads for the CLI ------------------------------------------------

    def document(self, url_or_id: str) -> dict[str, Any] | None:
        """A document with its latest version's text, found by id, canonical or fetched URL."""
        if url_or_id.isdigit():
            rows = self.db.query("SELECT * FROM documents WHERE id = ?", [int(url_or_id)])
            doc = next(iter(rows), None)
        else:
            doc = self._find_document(url_or_id, url_or_id)
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
                  ORDER BY d.published DESC, d.id"""
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

    def documents_published(self, start: str, end: str) -> list[dict[str, Any]]:
        """Active documents published in [start, end), by first-seen date where the page gave none."""
        sql = """
            SELECT d.id, d.url, d.source, d.title, d.published, d.authority, d.doc_number, d.first_seen,
                   coalesce(d.group_id, d.id) AS "group", v.text_hash
              FROM documents d JOIN versions v ON v.id = d.latest_version
             WHERE d.status = 'active'
               AND coalesce(d.published, substr(d.first_seen, 1, 10)) >= :start
               AND coalesce(d.published, substr(d.first_seen, 1, 10)) < :end
        """
        return list(self.db.query(sql, {"start": start, "end": end}))

    def changes_detected(self, start: str, end: str) -> list[dict[str, Any]]:
        """Changed, restored and removed records detected in [start, end), oldest first, with their document."""
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

    def _where_in(self, sql: str, keys: Iterable[Any], chunk: int = 500) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` whose one ``IN ({})`` takes the keys, a chunk at a time (SQLite caps parameters)."""
        keys, rows = sorted(set(keys)), []
        for i in range(0, len(keys), chunk):
            part = keys[i : i + chunk]
            rows += self.db.execute(sql.format(", ".join("?" * len(part))), part).fetchall()
        return rows

    def history(self, document_id: int) -> list[dict[str, Any]]:
        """Every version of a document, oldest first, with its size and the change that made it."""
        sql = """
            SELECT v.id, v.created_at, v.title, v.published, t.size,
                   (SELECT group_concat(c.kind) FROM changes c WHERE c.to_version = v.id) AS change
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

    # -- subscribers ----------------------------------------------------------

    def add_subscribers(self, records: Iterable[NewSubscriber]) -> list[str]:
        """Add or update subscribers, all or none; one word each on what happened (added/updated/reactivated).

        An existing address keeps its other subscriptions; a name or language given replaces the stored
        one; an unsubscribed or bouncing address that is added again becomes active.
        """
        outcomes = []
        with self.transaction():
            for record in records:
                row = self.db.execute("SELECT id, status FROM subscribers WHERE email = ?", [record.email]).fetchone()
                now = now_iso()
                if row is None:
                    subscriber_id = int(self.db["subscribers"].insert(
                        {"email": record.email, "name": record.name, "language": record.language,
                         "status": "active", "created_at": now, "updated_at": now}).last_pk)
                    outcomes.append("added")
                else:
                    subscriber_id, status = row
                    update = {"status": "active", "status_reason": None, "updated_at": now}
                    update |= {k: getattr(record, k) for k in ("name", "language") if getattr(record, k)}
                    self.db["subscribers"].update(subscriber_id, update)
                    outcomes.append("reactivated" if status != "active" else "updated")
                for digest, topics, regions in record.subscriptions:
                    self.db["subscriptions"].upsert(
                        {"subscriber_id": subscriber_id, "digest": digest,
                         "topics": json.dumps(topics, ensure_ascii=False) if topics else None,
                         "regions": json.dumps(regions, ensure_ascii=False) if regions else None},
                        pk=("subscriber_id", "digest"))
        return outcomes

    def remove_subscriber(self, email: str, digest: str | None = None) -> bool:
        """Forget an address (or only its subscription to ``digest``); False if there was nothing to remove.

        The send log keeps its rows: it records what was sent, to whom, whatever happens later.
        """
        with self.transaction():
            row = self.db.execute("SELECT id FROM subscribers WHERE email = ?", [email]).fetchone()
            if row is None:
                return False
            if digest is None:
                self.db.execute("DELETE FROM subscriptions WHERE subscriber_id = ?", [row[0]])
                self.db.execute("DELETE FROM subscribers WHERE id = ?", [row[0]])
                return True
            cursor = self.db.execute("DELETE FROM subscriptions WHERE subscriber_id = ? AND digest = ?",
                                     [row[0], digest])
            return cursor.rowcount > 0

    def subscribers(self, digest: str | None = None, active_only: bool = False) -> list[dict[str, Any]]:
        """Subscribers (of one digest), oldest first, each with ``subscriptions``: digest → (topics, regions)."""
        sql = """SELECT s.*, json_group_array(json_array(c.digest, c.topics, c.regions)) AS subs
                   FROM subscribers s LEFT JOIN subscriptions c ON c.subscriber_id = s.id
                  WHERE (:active = 0 OR s.status = 'active')
                  GROUP BY s.id
                 HAVING :digest IS NULL OR sum(c.digest = :digest) > 0
                  ORDER BY s.id"""
        rows = []
        for row in self.db.query(sql, {"digest": digest, "active": int(active_only)}):
            subs = json.loads(row.pop("subs"))
            row["subscriptions"] = {
                name: (tuple(json.loads(topics)) if topics else None, tuple(json.loads(regions)) if regions else None)
                for name, topics, regions in subs if name is not None
            }
            rows.append(row)
        return rows

    def subscriber(self, subscriber_id: int) -> dict[str, Any] | None:
        return next(iter(self.db.query("SELECT * FROM subscribers WHERE id = ?", [subscriber_id])), None)

    def unsubscribe(self, subscriber_id: int, digest: str) -> bool:
        """End one subscription; an address left with none becomes 'unsubscribed'. False if already ended."""
        with self.transaction():
            cursor = self.db.execute("DELETE FROM subscriptions WHERE subscriber_id = ? AND digest = ?",
                                     [subscriber_id, digest])
            left = self.db.execute("SELECT count(*) FROM subscriptions WHERE subscriber_id = ?",
                                   [subscriber_id]).fetchone()[0]
            if not left:
                self.db.execute(
                    """UPDATE subscribers SET status = 'unsubscribed', status_reason = ?, updated_at = ?
                        WHERE id = ? AND status != 'unsubscribed'""",
                    [f"unsubscribe link ({digest})", now_iso(), subscriber_id])
            return cursor.rowcount > 0

    # -- the send log ---------------------------------------------------------

    def deliveries(self, digest: str, period: str) -> dict[int, dict[str, Any]]:
        """The send log of one digest issue: subscriber id → its row."""
        sql = "SELECT * FROM deliveries WHERE digest = ? AND period = ?"
        return {row["subscriber_id"]: row for row in self.db.query(sql, [digest, period])}

    def log_delivery(
        self, digest: str, period: str, subscriber_id: int, email: str, message_id: str, status: str,
        error: str | None = None, attempt: bool = False, bounce: bool = False,
    ) -> None:
        """Write one send-log row's new status in its own transaction.

        ``attempt`` counts a new try; ``bounce`` (a permanent refusal) also marks the subscriber
        'bouncing', in the same transaction, so the log and the subscriber never disagree.
        """
        with self.transaction():
            self.db.execute(
                """INSERT INTO deliveries (digest, period, subscriber_id, email, message_id, status, attempts,
                                           error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (digest, period, subscriber_id) DO UPDATE SET
                       status = excluded.status, error = excluded.error, updated_at = excluded.updated_at,
                       attempts = deliveries.attempts + excluded.attempts""",
                [digest, period, subscriber_id, email, message_id, status, int(attempt), error, now_iso()])
            if bounce:
                self.db.execute(
                    "UPDATE subscribers SET status = 'bouncing', status_reason = ?, updated_at = ? WHERE id = ?",
                    [error, now_iso(), subscriber_id])

    # -- source health ----------------------------------------------------------

    def record_source_runs(
        self, run_id: int, sources: Iterable[str], outcome: str, started_at: str, finished_at: str
    ) -> None:
        """Sum up one crawl run per source (items on its list pages, errors, walls) into ``source_runs``."""
        sql = """
            SELECT count(*) FILTER (WHERE kind = 'list') AS list_pages,
                   count(*) FILTER (WHERE kind = 'list' AND error IS NOT NULL) AS list_errors,
                   min(error) FILTER (WHERE kind = 'list') AS list_error,
                   coalesce(sum(items) FILTER (WHERE kind = 'list'), 0) AS items,
                   count(*) AS pages, count(error) AS errors,
                   min(error) FILTER (WHERE error LIKE 'anti-bot wall%') AS wall
              FROM fetches WHERE run_id = ? AND source = ?
        """
        seconds = (datetime.fromisoformat(finished_at) - datetime.fromisoformat(started_at)).total_seconds()
        with self.transaction():
            for source in sources:
                row = dict(next(iter(self.db.query(sql, [run_id, source]))))
                self.db["source_runs"].upsert(
                    {"run_id": run_id, "source": source, "started_at": started_at, "finished_at": finished_at,
                     "seconds": seconds, "outcome": outcome, **row}, pk=("run_id", "source"))

    def source_runs(self, source: str, limit: int = 10) -> list[dict[str, Any]]:
        """A source's latest crawl runs, newest first."""
        sql = "SELECT * FROM source_runs WHERE source = ? ORDER BY run_id DESC LIMIT ?"
        return list(self.db.query(sql, [source, limit]))

    def open_alert(self, source: str) -> dict[str, Any] | None:
        sql = "SELECT * FROM alerts WHERE source = ? AND cleared_at IS NULL ORDER BY id DESC LIMIT 1"
        return next(iter(self.db.query(sql, [source])), None)

    def raise_alert(self, source: str, problem: str) -> None:
        with self.transaction():
            self.db["alerts"].insert({"source": source, "problem": problem, "opened_at": now_iso()})

    def clear_alert(self, alert_id: int) -> None:
        with self.transaction():
            self.db["alerts"].update(alert_id, {"cleared_at": now_iso()})

    def unnotified_alerts(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM alerts WHERE notified_at IS NULL AND cleared_at IS NULL ORDER BY id"))

    def alert_notified(self, alert_ids: Iterable[int]) -> None:
        with self.transaction():
            for alert_id in alert_ids:
                self.db["alerts"].update(alert_id, {"notified_at": now_iso()})

    # -- scheduled jobs -----------------------------------------------------------

    def start_job_run(self, job: str) -> int:
        with self.transaction():
            return int(self.db["job_runs"].insert({"job": job, "started_at": now_iso(), "outcome": "running"}).last_pk)

    def finish_job_run(self, job_run_id: int, outcome: str, detail: str | None = None) -> None:
        with self.transaction():
            self.db["job_runs"].update(job_run_id, {"finished_at": now_iso(), "outcome": outcome, "detail": detail})

    def log_job_event(self, job: str, outcome: str, detail: str | None = None) -> None:
        """A job that did not run (skipped, missed): one row with no duration."""
        with self.transaction():
            now = now_iso()
            self.db["job_runs"].insert({"job": job, "started_at": now, "finished_at": now, "outcome": outcome,
                                        "detail": detail})

    def job_runs(self, job: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM job_runs WHERE :job IS NULL OR job = :job ORDER BY id"
        return list(self.db.query(sql, {"job": job}))
