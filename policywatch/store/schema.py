"""state.db's schema: every migration, in order, each applied once per file.

The migrations are the only place a table or column is declared, so a reader who wants to know what a row holds
reads them oldest first. ``policywatch.store.connection`` applies the pending ones (under a lock, in one
transaction) when a store opens a file that lacks them.
"""

from __future__ import annotations

import sqlite3
import zlib

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("policywatch")


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
        replace_bands(db.conn, doc_id, mine.bands)


@migrations()
def m009_fetch_warnings(db: sqlite_utils.Database) -> None:
    # What extraction could not do as configured (a [sources.detail] selector that matched nothing), per fetch.
    db["fetches"].add_column("warning", str)


def replace_bands(conn: sqlite3.Connection, document_id: int, bands: tuple[int, ...]) -> None:
    """A document's LSH band buckets (the duplicate lookup), in place of those it had.

    Shared by ``m008_likeness_v2``, which recomputes every signature, and a crawl's ``save_snapshot``."""
    conn.execute("DELETE FROM doc_bands WHERE document_id = ?", [document_id])
    conn.executemany("INSERT INTO doc_bands (band, bucket, document_id) VALUES (?, ?, ?)",
                     [(band, bucket, document_id) for band, bucket in enumerate(bands)])
