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

import fcntl
import json
import os
import sqlite3
import time
import zlib
from contextlib import contextmanager, suppress
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
CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB: the file itself is damaged
CHECK_EVERY = 86400.0  # seconds after which an unchanged file is checked again (damage that leaves no trace)


class StoreError(Exception):
    """state.db cannot be used as it is (missing, damaged, or too old to read where it cannot be upgraded).

    The message is one line naming the file and what to do.
    """


def missing_db_message(path: Path) -> str:
    """What a command that reads state.db says before one exists (opening it would create it)."""
    return f"{path} does not exist yet: run `policywatch crawl` first"


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


@migrations()
def m009_fetch_warnings(db: sqlite_utils.Database) -> None:
    # What extraction could not do as configured (a [sources.detail] selector that matched nothing), per fetch.
    db["fetches"].add_column("warning", str)


def _replace_bands(conn: sqlite3.Connection, document_id: int, bands: tuple[int, ...]) -> None:
    """A document's LSH band buckets (the duplicate lookup), in place of those it had."""
    conn.execute("DELETE FROM doc_bands WHERE document_id = ?", [document_id])
    conn.executemany("INSERT INTO doc_bands (band, bucket, document_id) VALUES (?, ?, ?)",
                     [(band, bucket, document_id) for band, bucket in enumerate(bands)])


def _damaged(error: BaseException) -> bool:
    """Whether an error says the file itself is damaged (not locked, read-only or full)."""
    return isinstance(error, sqlite3.DatabaseError) and getattr(error, "sqlite_errorcode", 0) & 0xFF in CORRUPT


def _sidecar(path: Path, suffix: str) -> Path:
    """A file beside state.db that belongs to it (``state.db.lock``, ``state.db.checked``, ``state.db-wal``)."""
    return path.with_name(path.name + suffix)


def _stamp(path: Path) -> list[list[int] | None]:
    """What tells a changed file from an unchanged one, for state.db and its -wal file: inode, size, mtime."""
    stamps: list[list[int] | None] = []
    for file in (path, _sidecar(path, "-wal")):
        try:
            info = file.stat()
        except FileNotFoundError:
            stamps.append(None)
            continue
        stamps.append([info.st_ino, info.st_size, info.st_mtime_ns])
    return stamps


def _last_check(path: Path) -> dict[str, Any]:
    """``state.db.checked``: the file's stamp as last known sound, and when a quick_check last passed (empty if
    never, or unreadable)."""
    try:
        value = json.loads(_sidecar(path, ".checked").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _record_check(path: Path, checked: float, stamp: list[list[int] | None] | None = None) -> None:
    """Record the file (as it is now, or as ``stamp``) as sound, whole (written beside, then renamed); in a
    read-only folder nothing is recorded and the file is simply checked each time."""
    target = _sidecar(path, ".checked")
    partial = _sidecar(path, f".checked.{os.getpid()}")
    try:
        partial.write_text(json.dumps({"stamp": stamp or _stamp(path), "checked": checked}), encoding="utf-8")
        partial.replace(target)
    except OSError:
        with suppress(OSError):
            partial.unlink()


_RUN_LOCKS: dict[Path, int] = {}  # lock file → descriptor, for each run this process started and has not finished


def _hold(lock_path: Path) -> int:
    """An exclusive flock on ``lock_path``, held until released or the process (and any child given it) ends."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def _owner_gone(lock_path: Path) -> bool:
    """True when nobody holds ``lock_path`` (its file is then removed); False while its owner lives."""
    try:
        fd = _hold(lock_path)
    except BlockingIOError:
        return False
    with suppress(OSError):
        lock_path.unlink()
    os.close(fd)
    return True


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_path`` (waiting for it): one process at a time, released at exit or death."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _text_list(cell: str | None) -> tuple[str, ...] | None:
    """A stored JSON list of names (topics, regions), or None for the digest's own; ValueError otherwise."""
    if not cell:
        return None
    value = json.loads(cell)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"not a JSON list of names: {cell!r}")
    return tuple(value)


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
    attachments: tuple[str, ...] = ()  # the files its latest version lists (for a due document), to fetch on a 304


# Failed attachment fetches worth no retry before the page's own re-check: the answer will not change by itself (see
# crawler.spiders.base.describe_failure and crawler.guard for the reasons). Timeouts, dropped connections, HTTP 5xx,
# anti-bot walls and rate limits are retried at the next crawl.
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


def _request_url(url: str) -> str | None:
    """``url`` percent-encoded as a request sends it (w3lib, as Scrapy does), or None when it is no URL at all
    (a port out of range, a broken IPv6 host)."""
    from w3lib.url import safe_url_string

    try:
        return safe_url_string(url)
    except ValueError:
        return None


class Store:
    """A migrated, checked state.db. Open one per process; it is not shared across threads.

    ``read_only`` opens the file read-only (the commands that only report), so they work on a file or folder
    that cannot be written, and can never change it; a missing file is a StoreError then, not a new database.
    ``verify`` checks the file's integrity when it changed since the last check (see ``_verify``); a crawl's
    worker processes pass False, since the crawl that started them has just checked it.
    """

    def __init__(self, path: str | Path, read_only: bool = False, verify: bool = True) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._vouched: float | None = None  # when the file last passed a check; what this store leaves is sound
        if read_only and not self.path.exists():
            raise StoreError(missing_db_message(self.path))
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(self._connect())
        try:
            self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_WAIT * 1000)}")
            self._vouched = self._verify() if verify else _last_check(self.path).get("checked", 0.0)
            if not self._schema_current():
                self._upgrade()
            # WAL + NORMAL: every committed transaction survives a killed process.
            self.db.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        """Close the connection; a store that may have written records the file as it leaves it as checked."""
        self.db.close()
        if self._vouched is not None and not self.read_only and self.path.exists():
            _record_check(self.path, self._vouched)
            self._vouched = None

    def _connect(self) -> sqlite3.Connection:
        """A connection to the file: read-only ones by URI (mode=ro), immutable where SQLite could not otherwise
        read a WAL file (no -wal file, and no way to create its shared-memory file in a read-only folder)."""
        if not self.read_only:
            return sqlite3.connect(self.path, timeout=BUSY_WAIT)
        uri = self.path.resolve().as_uri() + "?mode=ro"
        folder = self.path.resolve().parent
        if not _sidecar(self.path, "-wal").exists() and not os.access(folder, os.W_OK):
            uri += "&immutable=1"
        return sqlite3.connect(uri, uri=True, timeout=BUSY_WAIT)

    def _verify(self) -> float:
        """``PRAGMA quick_check`` when the file changed since it last passed one (or a day went by); when it passed.

        A passing check records the file's size, time and inode (and its -wal file's) in ``state.db.checked``,
        and every writable store records them again as it closes, so PolicyWatch's own writes never cause a
        check: only a file changed by something else (a bad copy, a restored backup, another program) is read
        through, and damage that leaves no trace within CHECK_EVERY. A damaged file is a one-line StoreError
        before anything is written to it.
        """
        stamp, last = _stamp(self.path), _last_check(self.path)
        checked = last.get("checked")
        if last.get("stamp") == stamp and isinstance(checked, (int, float)) and time.time() - checked < CHECK_EVERY:
            return float(checked)
        try:
            found = self.db.execute("PRAGMA quick_check(1)").fetchone()[0]
        except sqlite3.DatabaseError as e:
            if not _damaged(e):
                raise
            found = str(e)
        if found != "ok":
            problem = "; ".join(line for line in found.splitlines() if line and not line.startswith("***"))
            raise StoreError(f"{self.path} is damaged ({problem}): restore it from a backup")
        now = time.time()
        _record_check(self.path, now, stamp)
        return now

    def _schema_current(self) -> bool:
        """WAL on and no migration pending: what nearly every open finds, learnt without taking any lock."""
        if not self.read_only and self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            return False
        return not migrations.pending(self.db)

    def _upgrade(self) -> None:
        """Create or migrate the schema (and switch to WAL), one process at a time.

        Two commands started together on a new file would otherwise both create the tables. The first to take
        ``state.db.lock`` does the work, in one transaction (all migrations or none); the others wait, then find
        it done. A read-only store has a writable one do it, and says to run ``policywatch init`` when the file
        cannot be written.
        """
        if self.read_only:
            try:
                Store(self.path, verify=False).close()
            except (sqlite3.Error, OSError) as e:
                raise StoreError(f"{self.path} needs an upgrade its file does not allow ({e}): run `policywatch init` "
                                 "as a user who can write it") from None
            return
        with _exclusive(_sidecar(self.path, ".lock")):
            if self._schema_current():
                return
            if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.db.execute("PRAGMA journal_mode = wal")
            self._begin_immediate()
            try:
                migrations.apply(self.db)
            except BaseException:
                self.db.conn.execute("ROLLBACK")
                raise
            self.db.conn.execute("COMMIT")

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
        except BaseException as e:
            if _damaged(e):  # found mid-run: no longer vouched for, so the next open checks it (and refuses it)
                self._vouched = None
                with suppress(OSError):
                    _sidecar(self.path, ".checked").unlink()
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
        """Record a crawl run owned by this process (see ``run_lock``); runs whose owners died become 'interrupted'.

        The run's lock is taken before its row is committed, so no other process ever sees it 'running' and
        unowned.
        """
        with self.transaction():
            self._mark_interrupted_runs()
            run_id = self._insert("runs", {"started_at": now_iso(), "sources": json.dumps(list(sources)),
                                           "status": "running"})
            _RUN_LOCKS[self._run_lock_path(run_id)] = _hold(self._run_lock_path(run_id))
        return run_id

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        """Record how a run ended, and let go of its lock."""
        with self.transaction():
            self.db["runs"].update(run_id, {"finished_at": now_iso(), "status": status})
        path = self._run_lock_path(run_id)
        fd = _RUN_LOCKS.pop(path, None)
        if fd is not None:
            with suppress(OSError):
                path.unlink()
            os.close(fd)

    def run_lock(self, run_id: int) -> int | None:
        """The file descriptor of the lock this process holds on a run it started, for the processes that crawl
        it to inherit (``pass_fds``): the run counts as alive while any of them is."""
        return _RUN_LOCKS.get(self._run_lock_path(run_id))

    def mark_interrupted_runs(self) -> list[int]:
        """Mark the runs left 'running' by processes that are gone (killed, crashed) 'interrupted'; their ids."""
        with self.transaction():
            return self._mark_interrupted_runs()

    def _mark_interrupted_runs(self) -> list[int]:
        """Within a write transaction: a run is alive while its owner holds its lock, whichever process or host
        it is; a run whose lock can be taken has no owner left (its lock file, if any, is removed)."""
        running = [row[0] for row in self.db.execute("SELECT id FROM runs WHERE status = 'running'").fetchall()]
        dead = [run_id for run_id in running if self._run_lock_path(run_id) not in _RUN_LOCKS
                and _owner_gone(self._run_lock_path(run_id))]
        if dead:
            self.db.conn.execute(f"UPDATE runs SET status = 'interrupted' WHERE id IN ({', '.join('?' * len(dead))})",
                                 dead)
        return dead

    def _run_lock_path(self, run_id: int) -> Path:
        """A run's lock file, beside the sources' crawl locks, named after the database it belongs to."""
        folder = self.path.parent / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{self.path.name}.run-{run_id}.lock"

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
        """Each known source with its document count, last crawl, and health (items, error streak, open alert, and
        an extraction warning of its latest run)."""
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
                     ORDER BY id DESC LIMIT 1) AS alert,
                   (SELECT warning FROM fetches f WHERE f.source = s.name AND f.warning IS NOT NULL
                       AND f.run_id = (SELECT max(run_id) FROM fetches g WHERE g.source = s.name)
                     ORDER BY f.id DESC LIMIT 1) AS warning
              FROM sources s ORDER BY s.name
        """
        return list(self.db.query(sql))

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
                   EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(d.attachments) THEN d.attachments END) j
                            WHERE j.key < :cap AND j.type = 'text'
                              AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.url = j.value)
                              AND NOT coalesce((SELECT {_SETTLED_FAILURE} FROM fetches f
                                                 WHERE f.url = j.value AND f.kind = 'attachment'
                                                 ORDER BY f.id DESC LIMIT 1), 0)) AS incomplete
              FROM documents d WHERE d.source = :source"""
        refs = []
        for row in self.db.execute(sql, {"source": source, "cap": max_attachments}).fetchall():
            doc_id, url, fetch_url, etag, last_modified, next_check, listed, incomplete = row
            due = recheck_all or next_check is None or next_check <= now or bool(incomplete)
            files = _listed(listed)[:max_attachments] if due else ()
            refs.append(DocRef(doc_id, url, fetch_url, etag, last_modified, due, files))
        return refs

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
            if doc is None:
                doc = {"id": self._insert("documents", {
                    "url": url, "fetch_url": fetch.url, "source": fetch.source,
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

    def _snapshot_document(self, url: str, fetch_url: str, source: str) -> tuple[dict[str, Any] | None, str]:
        """(The document a snapshot with canonical ``url`` fetched from ``fetch_url`` goes into, the URL a new one
        is stored under). Another source's document is never taken over by a canonical claim alone: unless the
        page was fetched from that document's own URL, the snapshot is stored under the URL it was fetched by."""
        doc = self._find_document(url, fetch_url)
        if doc is None or doc["source"] == source or fetch_url in (doc["url"], doc["fetch_url"]):
            return doc, url
        return self._find_document(fetch_url, fetch_url), fetch_url

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
            row["subscriptions"] = {}
            for name, topics, regions in subs:
                if name is None:
                    continue
                try:
                    row["subscriptions"][name] = (_text_list(topics), _text_list(regions))
                except ValueError:  # written by hand: the row stays listed, and the send says what is wrong
                    row["subscriptions"][name] = (None, None)
                    row["problem"] = f"its topics or regions for {name!r} are not a JSON list of names"
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
