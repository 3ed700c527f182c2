"""The SQLite file under a Store: the connection, its checks, its sidecar files and its locks.

Everything that is about state.db being one SQLite file shared by several processes lives here and nowhere
else: opening it (read-only by URI), ``PRAGMA`` settings and WAL mode, the integrity check and its
``state.db.checked`` stamp, the ``state.db.lock`` that serialises schema upgrades, write transactions begun
with ``BEGIN IMMEDIATE``, and the flock files that tell a live crawl run from one whose process died. Its
PostgreSQL counterpart is ``policywatch.core.store.postgres``; ``policywatch.core.store.connection`` picks one.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from policywatch.core.store.schema import migrations

if TYPE_CHECKING:
    from collections.abc import Iterator

from policywatch.core.store.errors import (
    BUSY_WAIT,
    CHECK_EVERY,
    CORRUPT,
    Held,
    StoreError,
    lock_key,
    missing_db_message,
)


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


class SqliteFile:
    """An open, migrated, checked state.db: the connection (``self.db``), its transactions and its run locks.

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
                type(self)(self.path, verify=False).close()
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

    # -- what SQL differs from PostgreSQL's ------------------------------------------

    def insert(self, table: str, row: dict[str, Any], replace: bool = False) -> int:
        """INSERT one row (``replace``: in place of the row with its primary key), returning its rowid."""
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        sql = f"{verb} INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
        return int(self.db.conn.execute(sql, list(row.values())).lastrowid)

    @staticmethod
    def text_list(expr: str) -> str:
        """The items of a JSON list column as rows (key: position from 0, type 'text' for a string, value);
        nothing for a value that is no JSON."""
        return f"json_each(CASE WHEN json_valid({expr}) THEN {expr} END)"

    @staticmethod
    def joined(expr: str) -> str:
        """An aggregate joining ``expr``'s values with commas."""
        return f"group_concat({expr})"

    @staticmethod
    def json_rows(*exprs: str) -> str:
        """An aggregate: a JSON list (as text) of one JSON list of ``exprs`` per row."""
        return f"json_group_array(json_array({', '.join(exprs)}))"

    # -- run locks: a run is alive while a process holds its lock file -------------

    def run_lock(self, run_id: int) -> int | None:
        """The file descriptor of the lock this process holds on a run it started, for the processes that crawl
        it to inherit (``pass_fds``): the run counts as alive while any of them is."""
        return _RUN_LOCKS.get(self._run_lock_path(run_id))

    def hold_run_lock(self, run_id: int) -> None:
        """Take the lock of a run this process starts, held until ``release_run_lock`` or the process ends."""
        _RUN_LOCKS[self._run_lock_path(run_id)] = _hold(self._run_lock_path(run_id))

    def release_run_lock(self, run_id: int) -> None:
        """Let go of a run's lock (and remove its file), if this process holds it."""
        path = self._run_lock_path(run_id)
        fd = _RUN_LOCKS.pop(path, None)
        if fd is not None:
            with suppress(OSError):
                path.unlink()
            os.close(fd)

    def run_owner_gone(self, run_id: int) -> bool:
        """Whether no process holds a run's lock, whichever process or host it is (its lock file, if any, is then
        removed); a run this process holds is never gone."""
        return self._run_lock_path(run_id) not in _RUN_LOCKS and _owner_gone(self._run_lock_path(run_id))

    @contextmanager
    def exclusive(self, name: str, held: str) -> Iterator[None]:
        """Hold the lock called ``name`` for the block, or raise Held(``held``) at once if another process holds it.

        A flock on a file beside the run locks, named by a hash of ``name``. The file stays when the lock is let
        go: removing it would let a process that opened it just before lock the removed file while another locks
        a new one."""
        try:
            fd = _hold(self._lock_path(lock_key(name).hex()))
        except BlockingIOError:
            raise Held(held) from None
        try:
            yield
        finally:
            os.close(fd)

    def _run_lock_path(self, run_id: int) -> Path:
        return self._lock_path(f"run-{run_id}")

    def _lock_path(self, name: str) -> Path:
        """A lock file (a run's, a named lock's), beside the sources' crawl locks, named after the database."""
        folder = self.path.parent / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{self.path.name}.{name}.lock"
