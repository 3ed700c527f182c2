"""The one interface under every Store, whichever database it runs on: a SQLite file or a PostgreSQL server.

``Connection`` opens the database its target names (``policywatch.core.store.sqlite`` for a path,
``policywatch.core.store.postgres`` for a ``postgresql://`` URL) and hands the concern modules (documents, reads,
subscribers, operations) what they use: ``self.db`` to run SQL through (``?`` and ``:name`` parameters, the
same on both), ``transaction()``, the few SQL pieces that differ (``self.dialect``), and the run locks.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from policywatch.core.dburl import is_postgres
from policywatch.core.store.errors import BUSY_WAIT, CHECK_EVERY, CORRUPT, StoreError, missing_db_message

if TYPE_CHECKING:
    from policywatch.core.store.postgres import PostgresDatabase
    from policywatch.core.store.sqlite import SqliteFile

__all__ = ["BUSY_WAIT", "CHECK_EVERY", "CORRUPT", "Connection", "StoreError", "missing_db_message"]


class Connection:
    """An open, migrated database: the connection (``self.db``), its transactions and its run locks.

    ``read_only`` opens it read-only (the commands that only report), so they work on a file or folder that
    cannot be written, and can never change it. ``verify`` checks a SQLite file's integrity when it changed
    since the last check; a crawl's worker processes pass False, since the crawl that started them has just
    checked it. ``path`` is the SQLite file (None on PostgreSQL).
    """

    def __init__(self, target: str | Path, read_only: bool = False, verify: bool = True) -> None:
        self.read_only = read_only
        self.dialect: SqliteFile | PostgresDatabase
        if is_postgres(target):
            from policywatch.core.store.postgres import PostgresDatabase

            self.dialect = PostgresDatabase(str(target), read_only)
            self.path: Path | None = None
        else:
            from policywatch.core.store.sqlite import SqliteFile

            self.dialect = SqliteFile(target, read_only, verify)
            self.path = self.dialect.path
        self.db: Any = self.dialect.db

    @property
    def postgres(self) -> bool:
        return self.path is None

    def close(self) -> None:
        self.dialect.close()

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction: all of it is stored or none (see each dialect for how writers wait)."""
        return self.dialect.transaction()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- run locks: a run is alive while a process holds its lock -------------------

    def run_lock(self, run_id: int) -> int | None:
        """The file descriptor of the lock this process holds on a run it started, for the processes that crawl
        it to inherit (``pass_fds``); None on PostgreSQL, where this process holds it on its own connection."""
        return self.dialect.run_lock(run_id)

    def exclusive(self, name: str, held: str) -> AbstractContextManager[None]:
        """A lock across processes and, on PostgreSQL, machines: held for a ``with`` block, or Held(``held``), a
        one-line StoreError, at once when another process holds the lock called ``name``."""
        return self.dialect.exclusive(name, held)

    def _hold_run_lock(self, run_id: int) -> None:
        self.dialect.hold_run_lock(run_id)

    def _release_run_lock(self, run_id: int) -> None:
        self.dialect.release_run_lock(run_id)

    def _run_owner_gone(self, run_id: int) -> bool:
        return self.dialect.run_owner_gone(run_id)
