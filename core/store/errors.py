"""What every store says when its database cannot be used, or another process holds what it asks for, whichever
database it is; and the few settings both kinds share."""

from __future__ import annotations

import hashlib
from pathlib import Path

BUSY_WAIT = 30.0  # seconds a statement waits for another process's write lock before failing
CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB: the file itself is damaged
CHECK_EVERY = 86400.0  # seconds after which an unchanged file is checked again (damage that leaves no trace)


class StoreError(Exception):
    """The database cannot be used as it is (missing, damaged, unreachable, or too old to read where it cannot be
    upgraded).

    The message is one line naming the database and what to do.
    """


class Held(StoreError):
    """A lock another process holds (``Store.exclusive``): the work it guards is being done elsewhere now."""


def lock_key(name: str) -> bytes:
    """Eight bytes that stand for a lock's name: its file name on SQLite, its advisory-lock key on PostgreSQL."""
    return hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()


def missing_db_message(path: Path | str) -> str:
    """What a command that reads state.db says before one exists (opening it would create it)."""
    return f"{path} does not exist yet: run `policywatch crawl` first"
